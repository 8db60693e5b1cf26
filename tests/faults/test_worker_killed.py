"""A gunicorn worker SIGKILLed in the middle of writing a batch of fund entries: the ledger
has all of the batch or none of it, the running total agrees with the ledger (``fund-verify``
is clean), and gunicorn's next worker serves the next batch normally.

Runs on a SQLite file and on the private PostgreSQL cluster.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from coop import ROOT, create_app
from coop.extensions import db as _db
from tests.faults.conftest import migrated, wait_for
from tests.quality.pages import DEMO

pytestmark = [pytest.mark.faults, pytest.mark.slow]

LINES = 40
HOLD_AFTER = 25  # entries written (and flushed) when the worker is killed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'coop.sqlite3'}"
        migrated(url)
    else:
        private_pg = request.getfixturevalue("private_pg")
        url = migrated(private_pg.create_database(f"coop_kill_{os.getpid()}_{id(tmp_path)}"))
    app = create_app({"COOP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url,
                      "DEMO_ACCOUNTS": True, "MAIL_OUTBOX": str(tmp_path / "outbox")})
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    yield app, url
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


def _ledger(app, slug: str) -> tuple[int, int, int, int]:
    """(entries, sum of amounts, stored running total, stored entry count) for a campaign."""
    with app.app_context():
        row = _db.session.execute(sa.text(
            "SELECT c.id, c.raised_pence, c.entry_count FROM fund_campaigns c WHERE c.slug = :s"
        ), {"s": slug}).one()
        count, total = _db.session.execute(sa.text(
            "SELECT count(*), coalesce(sum(amount_pence), 0) FROM fund_entries "
            "WHERE campaign_id = :c"), {"c": row.id}).one()
        _db.session.remove()
    return count, total, row.raised_pence, row.entry_count


def _batch_data(received_on: str) -> dict:
    data = {"source": "post", "received_on": received_on}
    for i in range(LINES):
        data[f"lines-{i}-amount"] = f"{i + 1}.50"
        data[f"lines-{i}-donor_name"] = f"Reader {i}"
        data[f"lines-{i}-donor_town"] = "Leeds"
    return data


def test_worker_killed_mid_batch_leaves_all_or_nothing(database, tmp_path):
    app, url = database
    slug = "demo-this-month"
    with app.app_context():
        campaign_id, today = _db.session.execute(sa.text(
            "SELECT id, opens_on FROM fund_campaigns WHERE slug = :s"), {"s": slug}).one()
        _db.session.remove()
    before = _ledger(app, slug)
    assert before[0] > 0 and before[1] == before[2]

    port = _free_port()
    marker = tmp_path / "held"
    env = {**os.environ, "DATABASE_URL": url, "COOP_ENV": "testing",
           "COOP_WTF_CSRF_ENABLED": "false", "COOP_RATELIMIT_ENABLED": "false",
           "COOP_INSTANCE_PATH": str(tmp_path / "instance"),
           "COOP_TEST_HOLD_AFTER": str(HOLD_AFTER), "COOP_TEST_MARKER": str(marker)}
    env.pop("COOP_DATABASE_URL", None)
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}",
         "--timeout", "300", "--graceful-timeout", "5", "tests.faults.held_batch_app:app"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        def healthy():
            try:
                return requests.get(f"{base}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        assert wait_for(healthy, timeout=30), "gunicorn did not start"
        staff = requests.Session()
        email, password = DEMO["staff"]
        login = staff.post(f"{base}/login", data={"email": email, "password": password},
                           allow_redirects=False, timeout=10)
        assert login.status_code == 302

        outcome = {}

        def send_batch():
            try:
                outcome["response"] = staff.post(
                    f"{base}/staff/fund/{campaign_id}/batch", data=_batch_data(str(today)),
                    allow_redirects=False, timeout=60)
            except requests.RequestException as err:
                outcome["error"] = err

        sender = threading.Thread(target=send_batch)
        sender.start()
        assert wait_for(lambda: marker.exists() and marker.read_text(), timeout=30), (
            "the batch never reached the hold point")
        worker = int(marker.read_text())
        assert worker != server.pid
        os.kill(worker, signal.SIGKILL)
        sender.join(30)
        assert not sender.is_alive()
        assert "error" in outcome or outcome["response"].status_code >= 500, outcome

        # All or nothing: here nothing, since the worker died before the commit.
        after = _ledger(app, slug)
        assert after[0] in (before[0], before[0] + LINES), (before, after)
        assert after == before, f"half a batch is in the ledger: {before} → {after}"
        result = app.test_cli_runner().invoke(args=["fund-verify"])
        assert result.exit_code == 0, result.output

        # gunicorn's replacement worker takes the same batch, whole.
        assert wait_for(healthy, timeout=30)
        again = staff.post(f"{base}/staff/fund/{campaign_id}/batch",
                           data=_batch_data(str(today)), allow_redirects=False, timeout=60)
        assert again.status_code == 302, again.text[:500]
        final = _ledger(app, slug)
        added = sum(int((i + 1) * 100 + 50) for i in range(LINES))
        assert final[0] == before[0] + LINES and final[1] == before[1] + added
        assert final[1] == final[2] and final[0] == final[3]
        assert app.test_cli_runner().invoke(args=["fund-verify"]).exit_code == 0
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        output = server.stdout.read().decode(errors="replace") if server.stdout else ""
        if server.stdout:
            server.stdout.close()
        Path(tmp_path / "gunicorn.log").write_text(output)
