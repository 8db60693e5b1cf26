"""A private PostgreSQL cluster these tests may stop and start (never the shared server).

It is made with initdb in a temporary folder and run on a free port by the ``postgres`` system
user when the tests run as root (initdb refuses root). If it cannot be started the tests FAIL:
a fault test that silently skips proves nothing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivatePostgres:
    def __init__(self, root: Path):
        self.bin = next((p for p in PG_BIN_CANDIDATES if (p / "initdb").exists()), None)
        if self.bin is None:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(root, pw.pw_uid, pw.pw_gid)

    def _run(self, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True,  # noqa: S603
                              timeout=timeout, check=False)

    def init(self) -> None:
        result = self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                           "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
        if result.returncode:
            raise RuntimeError(f"initdb failed: {result.stderr}")

    def start(self) -> None:
        # fsync=off is safe here: the tests kill PostgreSQL, never the machine. (Not
        # synchronous_commit=off: that would lose acknowledged commits on an immediate stop.)
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off")
        result = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"),
                           "-o", options, "-w", "-t", "60", "start")
        if result.returncode:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {result.stderr}\n{log}")

    def stop(self, mode: str = "fast") -> None:
        result = self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        if result.returncode:
            raise RuntimeError(f"pg_ctl stop failed: {result.stderr}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)


@pytest.fixture(scope="session")
def private_pg():
    root = Path(tempfile.mkdtemp(prefix="coop-pg-"))
    cluster = None
    try:
        cluster = PrivatePostgres(root)
        cluster.init()
        cluster.start()
    except (RuntimeError, OSError, KeyError, subprocess.TimeoutExpired) as err:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start a private PostgreSQL cluster: {err}", pytrace=False)
    yield cluster
    with contextlib.suppress(Exception):
        cluster.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)


def migrated(url: str) -> str:
    from flask_migrate import upgrade

    from coop import create_app
    from coop.extensions import db

    app = create_app({"COOP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(revision="head")
        db.engine.dispose()
    return url


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy (used for recovery, not to pass)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
