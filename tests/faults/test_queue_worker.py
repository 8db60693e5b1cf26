"""The task queue through real worker processes (``huey_consumer coop.jobs.huey``), sharing the
test's database and a SQLite queue file: a mail server down for a burst of 200 mails, then
back; a worker killed in the middle of a send; reminders with two workers at once. Nothing is
lost and nothing is sent twice.

Runs on SQLite, and on PostgreSQL when ``DATABASE_URL`` is set (the worker uses the same one).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from coop import ROOT, tasks
from coop.db import now_utc
from coop.extensions import db as _db
from coop.outbox import OutboxMessage, Status, enqueue_email
from tests.faults.conftest import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

CONSUMER = str(Path(sys.executable).parent / "huey_consumer")
BACKOFF = [1] * 12  # seconds between attempts, so a test sees several


class Workers:
    """Start and stop worker processes configured like the test's app."""

    def __init__(self, database_url: str, tmp_path: Path, **settings):
        self.tmp_path = tmp_path
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("COOP_") and k not in ("REDIS_URL", "DATABASE_URL")}
        self.env.update({
            "COOP_ENV": "testing", "COOP_TASKS_IMMEDIATE": "false",
            "DATABASE_URL": database_url,
            "COOP_INSTANCE_PATH": str(tmp_path / "instance"),
            "COOP_TASKS_SQLITE_PATH": str(tmp_path / "tasks.sqlite3"),
            "COOP_MAIL_OUTBOX": str(tmp_path / "outbox"),
            "COOP_OUTBOX_BACKOFF": "[" + ",".join(map(str, BACKOFF)) + "]",
        })
        for key, value in settings.items():
            self.env[f"COOP_{key}"] = str(value)
        self.processes: list[subprocess.Popen] = []

    def app_config(self) -> dict:
        """The same settings for the test's own app (which only queues)."""
        return {"TASKS_IMMEDIATE": False, "TASKS_SQLITE_PATH": self.env["COOP_TASKS_SQLITE_PATH"],
                "OUTBOX_BACKOFF": BACKOFF, "MAIL_OUTBOX": self.env["COOP_MAIL_OUTBOX"]}

    def start(self, threads: int = 2) -> subprocess.Popen:
        log = open(self.tmp_path / f"worker-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(  # noqa: S603
            [CONSUMER, "coop.jobs.huey", "--workers", str(threads), "--worker-type", "thread",
             "--delay", "0.05", "--max-delay", "0.2", "--scheduler-interval", "1"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        """Graceful (SIGINT lets running tasks finish), then forceful."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill(process)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.tmp_path.glob("worker-*.log")))


@pytest.fixture
def workers(database_url, tmp_path):
    made: list[Workers] = []

    def factory(**settings) -> Workers:
        made.append(Workers(database_url, tmp_path, **settings))
        return made[-1]

    yield factory
    for group in made:
        group.stop_all()


def _statuses(app) -> dict[str, int]:
    with app.app_context():
        rows = _db.session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status))
        result = {status: n for status, n in rows}
        _db.session.remove()
        return result


def _all_tried(app, count: int) -> bool:
    with app.app_context():
        tried = _db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                   .where(OutboxMessage.attempts >= 1,
                                          OutboxMessage.status == Status.PENDING))
        _db.session.remove()
        return tried == count


def test_200_mails_with_the_server_down_then_back_arrive_once(make_app, workers, smtp_server):
    group = workers(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, **group.app_config())
    smtp_server.handler.down = True  # answers 421 to every message
    group.start()
    with app.app_context():
        for n in range(200):
            enqueue_email(_db.session, to=f"reader{n}@example.org", subject=f"Mail {n}",
                          text="Hello", kind="test.burst")
        _db.session.commit()
    assert wait_for(lambda: _all_tried(app, 200), timeout=90), group.logs()
    assert smtp_server.messages == []
    smtp_server.handler.down = False  # back
    assert wait_for(lambda: _statuses(app) == {"sent": 200}, timeout=120), (
        _statuses(app), group.logs())
    received = [m["Message-ID"] for m in smtp_server.messages]
    assert len(received) == 200 and len(set(received)) == 200
    with app.app_context():
        stored = set(_db.session.scalars(sa.select(OutboxMessage.message_id)))
    assert set(received) == stored
    group.stop_all()
    assert len(smtp_server.messages) == 200  # and nothing more afterwards


def test_a_worker_killed_mid_send_is_taken_over_without_a_duplicate(make_app, workers,
                                                                    smtp_server):
    group = workers(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, OUTBOX_CLAIM_SECONDS=2)
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                   OUTBOX_CLAIM_SECONDS=2, **group.app_config())
    smtp_server.handler.hold.set()  # the server hangs in the middle of the conversation
    first = group.start()
    with app.app_context():
        enqueue_email(_db.session, to="kill@example.org", subject="Once", text="x")
        _db.session.commit()
    assert smtp_server.handler.held.wait(timeout=30), group.logs()
    group.kill(first)  # SIGKILL while it waits on the server
    smtp_server.handler.hold.clear()
    with app.app_context():
        row = _db.session.scalar(sa.select(OutboxMessage))
        assert row.status == Status.SENDING and row.attempts == 1
        claimed_until = row.claimed_until
        _db.session.remove()
    assert wait_for(lambda: now_utc() > claimed_until, timeout=10)
    group.start()  # a new worker sweeps at start and takes the message over
    assert wait_for(lambda: _statuses(app) == {"sent": 1}, timeout=60), group.logs()
    [message] = smtp_server.messages
    assert message["Subject"] == "Once" and message["Message-ID"] == row.message_id
    with app.app_context():
        assert _db.session.scalar(sa.select(OutboxMessage.attempts)) == 2


def test_reminders_go_once_with_two_workers_at_once(make_app, workers, tmp_path):
    import datetime as dt

    from coop.events import services
    from coop.events.models import Registration
    from coop.mail import outbox_messages

    group = workers()
    app = make_app(**group.app_config())
    start = now_utc() + dt.timedelta(hours=6)
    with app.app_context():
        for n in range(4):
            event = services.create_event(
                _db.session, services.EventDetails(title=f"Talk {n}", status="published"),
                start, start + dt.timedelta(hours=1))
            for m in range(5):
                _db.session.add(Registration(
                    event_id=event.id, name=f"P{m}", email=f"p{m}.{n}@example.org",
                    status="registered", created_at=start - dt.timedelta(days=3)))
        _db.session.commit()
    group.start()
    group.start()
    with app.app_context():
        for _ in range(8):  # eight runs of the job queued at once, for two workers
            tasks.event_reminders()
    expected = 4 * 5
    assert wait_for(lambda: _statuses(app).get("sent") == expected
                    and tasks.huey.pending_count() == 0, timeout=90), group.logs()
    group.stop_all()  # lets any run still going finish first
    with app.app_context():
        rows = _db.session.scalars(sa.select(OutboxMessage)).all()
    assert len(rows) == expected
    assert len({r.to_address for r in rows}) == expected
    assert all(r.kind == "events.reminder" and r.status == Status.SENT for r in rows)
    assert len(outbox_messages(tmp_path / "outbox")) == expected


def test_the_database_gone_for_a_while_loses_nothing(private_pg, tmp_path, smtp_server):
    """The worker's database stops with 20 deliveries queued: the worker keeps running,
    retries, and once the database is back every email goes, once."""
    import time

    from coop import create_app
    from tests.faults.conftest import migrated

    url = migrated(private_pg.create_database(f"coop_queue_{int(time.time() * 1000)}"))
    group = Workers(url, tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                    TASKS_RETRY_SECONDS=1)
    app = create_app({
        "COOP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_server.port, "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": True, "connect_args": {"connect_timeout": 3}},
        **group.app_config()})
    try:
        with app.app_context():
            app.extensions["coop.outbox"].dispatch = lambda ids: None  # queued by hand below
            for n in range(20):
                enqueue_email(_db.session, to=f"r{n}@example.org", subject=f"Mail {n}",
                              text="x")
            _db.session.commit()
            ids = list(_db.session.scalars(sa.select(OutboxMessage.id)))
            _db.session.remove()
            _db.engine.dispose()
        private_pg.stop("fast")
        worker = group.start()
        with app.app_context():
            tasks.queue_delivery(ids)  # the queue itself (a SQLite file here) is still there
        assert wait_for(lambda: "RetryTask" in group.logs(), timeout=30), group.logs()
        assert smtp_server.messages == [] and worker.poll() is None
        private_pg.start()
        assert wait_for(lambda: _statuses(app) == {"sent": 20}, timeout=60), (
            _statuses(app), group.logs())
        assert worker.poll() is None, "the worker died"
        received = [m["Message-ID"] for m in smtp_server.messages]
        assert len(received) == 20 and len(set(received)) == 20
    finally:
        group.stop_all()
        with app.app_context():
            _db.engine.dispose()
