"""The app started as ``make run`` starts it (migrated, demo data, worker), on a free port of
127.0.0.1 with a throw-away instance folder and SQLite database: for ``make lighthouse`` and
``make screenshots``."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.run import free_port, stop
from coop import ROOT

STARTUP_SECONDS = 120


@dataclass
class DemoServer:
    url: str  #: also its ``COOP_BASE_URL``
    instance: Path  #: its instance folder: SQLite database, secret key, outbox


@contextlib.contextmanager
def demo_server(log: Path) -> Iterator[DemoServer]:
    """``make run`` on a free port, stopped (and its instance folder removed) at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="coop-demo-") as instance:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("COOP_", "FLASK_"))
               and k not in ("DATABASE_URL", "SECRET_KEY", "REDIS_URL")}
        env.update(COOP_INSTANCE_PATH=instance, COOP_ENV="development", COOP_BASE_URL=url,
                   PYTHONUNBUFFERED="1")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 - fixed arguments
                ["make", "--no-print-directory", "-o", ".venv/.installed", "run",  # noqa: S607
                 f"PORT={port}"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            _wait_for(url, process, log)
            yield DemoServer(url, Path(instance))
        finally:
            stop(process)


def _wait_for(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise SystemExit(f"`make run` exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"`make run` did not answer {url}/healthz in time; see {log}")
        time.sleep(0.2)


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, ""


def first_link(base: str, path: str, pattern: str) -> str | None:
    """The first link on ``path`` whose address matches ``pattern`` (e.g. an event page)."""
    status, body = fetch(base + path)
    if status != 200:
        return None
    for href in re.findall(r'href="([^"]+)"', body):
        if re.fullmatch(pattern, href):
            return href
    return None


def public_pages(base: str) -> list[str]:
    """Every public page worth a look, with an event, a series and a past appeal from the demo
    data (found by following links, as a reader would)."""
    pages = ["/", "/fund", "/fund/archive", "/fund/widget", "/events", "/events/past",
             "/shares", "/support", "/newsletter", "/privacy", "/login", "/login/forgot"]
    found = [
        first_link(base, "/events", r"/events/(?!past$)[a-z0-9-]+"),
        first_link(base, "/events/past", r"/series/[a-z0-9-]+")
        or first_link(base, "/events", r"/series/[a-z0-9-]+"),
        first_link(base, "/fund/archive", r"/fund/(?!archive$|widget$)[a-z0-9-]+"),
    ]
    pages += [page for page in found if page]
    if fetch(base + "/series")[0] == 200:
        pages.append("/series")
    return pages
