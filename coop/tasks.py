"""The task queue (Huey): emails delivered after the commit, event reminders, and the
society's housekeeping on a schedule.

One ``huey`` object for the whole app. Its storage is chosen by :func:`init_app` from the
config: a SQLite file in the instance folder (one server), Redis when ``REDIS_URL`` is set
(several servers share one queue), or Huey's immediate mode (``TASKS_IMMEDIATE``, the tests'
default) where a task runs at once in the process that queues it. The worker is
``huey_consumer coop.jobs.huey`` (see ``coop/jobs.py``); every task runs in an app context.

The outbox table, not the queue, is the record of what must be sent: a lost task (Redis
flushed, a worker killed) only delays a message until the sweeper finds it due.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from pathlib import Path

from flask import Flask, current_app, has_app_context
from huey import Huey, crontab
from huey.exceptions import RetryTask
from huey.signals import SIGNAL_ERROR
from huey.storage import RedisStorage, SqliteStorage
from sqlalchemy.exc import SQLAlchemyError

from coop.db import now_utc

log = logging.getLogger(__name__)

#: results are never read, so none are stored; storage is set by init_app
huey = Huey("coop", results=False, immediate=True, utc=True)

#: how long one sweep may deliver before leaving the rest to the next minute
SWEEP_SECONDS = 45
#: the key under which the worker's scheduler notes that it is alive
HEARTBEAT_KEY = "coop.heartbeat"

_worker_app: Flask | None = None


def init_app(app: Flask) -> None:
    """Point the queue at this app's storage and make delivery go through it."""

    immediate = bool(app.config["TASKS_IMMEDIATE"])
    if app.config.get("REDIS_URL"):
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": app.config["REDIS_URL"]}
    else:
        path = app.config.get("TASKS_SQLITE_PATH") or str(Path(app.instance_path) / "tasks.sqlite3")
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": path, "timeout": 10}
    huey.immediate = immediate
    huey.storage = huey.create_storage()
    app.extensions["coop.outbox"].dispatch = queue_delivery


def set_worker_app(app: Flask) -> None:
    """The app the worker's tasks run in (``coop/jobs.py`` creates it once)."""
    global _worker_app
    _worker_app = app


def _in_app(func):
    """Run ``func`` in the current app context, or in the worker's app."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)
        global _worker_app
        if _worker_app is None:
            from coop import create_app

            _worker_app = create_app()
        with _worker_app.app_context():
            return func(*args, **kwargs)

    return wrapper


# -- mail -------------------------------------------------------------------------------


def queue_delivery(ids: list[int]) -> None:
    """The outbox dispatcher: one delivery task per message just committed.

    If the queue can't be reached (Redis down), the messages stay pending in the outbox
    and the sweeper sends them; the reader's request never fails for it.
    """
    for message_id in ids:
        try:
            deliver_message(message_id)
        except Exception as err:  # noqa: BLE001 - any storage failure: the sweeper has it
            current_app.logger.warning("could not queue outbox message %s (the sweeper will "
                                       "send it): %s", message_id, err)


@huey.task()
@_in_app
def deliver_message(message_id: int) -> bool:
    """Send one outbox message; after a failure, come back when its backoff is over."""
    from sqlalchemy.orm import Session

    from coop import outbox
    from coop.extensions import db
    from coop.mail import MailError

    with Session(db.engine) as session:
        try:
            return outbox.deliver(session, message_id)
        except SQLAlchemyError as err:
            # The database is gone for a while: come back until it returns (a claim taken
            # before it went runs out and is taken over; the sweeper is there as well).
            current_app.logger.warning("outbox message %s: database unavailable (%s); "
                                       "retrying", message_id, type(err).__name__)
            raise RetryTask(delay=current_app.config["TASKS_RETRY_SECONDS"]) from None
        except MailError as err:
            current_app.logger.warning("outbox message %s not sent: %s", message_id, err)
            row = session.get(outbox.OutboxMessage, message_id)
            if row is not None and row.status == outbox.Status.PENDING and not huey.immediate:
                delay = max(1.0, (row.next_attempt_at - now_utc()).total_seconds())
                deliver_message.schedule(args=(message_id,), delay=delay)
            return False


# -- accounts -----------------------------------------------------------------------------


@huey.task()
@_in_app
def password_reset(email: str) -> bool:
    """A "forgot your password" request, worked out here and not in the request: the page
    answers once this is queued, with the same work for every address, so how long it takes
    can't tell anyone whether the address has an account (finding the account, the link,
    the email and the audit line cost several milliseconds more than an unknown address)."""
    from coop.extensions import db

    try:
        return _password_reset(email)
    except SQLAlchemyError:
        db.session.rollback()
        raise RetryTask(delay=current_app.config["TASKS_RETRY_SECONDS"]) from None


def _password_reset(email: str) -> bool:
    from coop.accounts import services
    from coop.extensions import db

    sent = services.request_password_reset(db.session, email)
    db.session.commit()
    return sent


def ask_for_password_reset(email: str) -> None:
    """Queue :func:`password_reset`; with the queue out of reach, do it now (the answer is
    late rather than the link lost)."""
    try:
        password_reset(email)
    except Exception as err:  # noqa: BLE001 - any storage failure: done in the request
        current_app.logger.warning("could not queue a password reset (done now): %s", err)
        _password_reset(email)


def sweep(*, budget: float = SWEEP_SECONDS, now: dt.datetime | None = None) -> int:
    """Deliver every message that is due (its task was lost, its backoff is over, or the
    worker sending it died); returns how many were sent."""
    from sqlalchemy.orm import Session

    from coop import outbox
    from coop.extensions import db
    from coop.mail import MailError

    sent = 0
    deadline = time.monotonic() + budget
    with Session(db.engine) as session:
        for message_id in outbox.due_ids(session, now=now):
            if time.monotonic() > deadline:
                break
            try:
                sent += bool(outbox.deliver(session, message_id, now=now))
            except MailError as err:
                current_app.logger.warning("outbox message %s not sent: %s", message_id, err)
    return sent


@huey.periodic_task(crontab(minute="*"))
@_in_app
def sweep_outbox() -> int:
    """Every minute: note that the worker is alive, then deliver whatever is due. (No lock:
    two workers sweeping at once can't send a message twice, each claim is atomic.)"""
    huey.put(HEARTBEAT_KEY, now_utc().timestamp())
    return sweep()


_started = threading.Lock()
_swept_at_start = False


@huey.on_startup()
def _sweep_at_start() -> None:
    """A worker starting takes over what a dead one left (once the dead one's claim has
    run out) without waiting for the next minute's sweep."""
    global _swept_at_start
    with _started:
        if _swept_at_start:
            return
        _swept_at_start = True
    try:
        sweep_outbox()
    except Exception as err:  # noqa: BLE001 - the queue's storage is down: the minute's sweep
        log.warning("could not queue the start-up sweep: %s", err)


# -- scheduled jobs ---------------------------------------------------------------------
#
# Each job is a plain function in coop/schedule.py, run here on its schedule and by
# ``flask --app coop jobs run NAME``; every run is recorded for staff. All of them are safe
# to run twice at once (several workers), so no task lock can be left stuck by a dead one.


def _job_task(name: str):
    from coop.schedule import JOBS

    @huey.periodic_task(crontab(**JOBS[name].crontab), name=f"job.{name}")
    @_in_app
    def run_scheduled():
        from coop import schedule

        return schedule.run_job(name)

    return run_scheduled


event_reminders = _job_task("event-reminders")
purge_enquiries = _job_task("purge-enquiries")
purge_newsletter_pending = _job_task("purge-newsletter-pending")
purge_login_failures = _job_task("purge-login-failures")
purge_idempotency_keys = _job_task("purge-idempotency-keys")
purge_sent_mail = _job_task("purge-sent-mail")
nightly_checks = _job_task("nightly-checks")
fund_roll_over = _job_task("fund-roll-over")


@huey.signal(SIGNAL_ERROR)
def _task_failed(signal, task, exc=None):
    log.error("task %s failed: %r", getattr(task, "name", task), exc)


# -- health -----------------------------------------------------------------------------


def queue_health(session, *, now: dt.datetime | None = None) -> dict:
    """``{"queue": "ok"}``, or ``"behind"`` with ``queue_oldest_seconds``: how long the
    longest-waiting email has been due (over ``TASKS_LAG_SECONDS``), or how long since the
    worker's scheduler was last heard from (over 3 minutes). ``queue_waiting`` counts the
    tasks queued; ``"unavailable"`` when the queue's storage (Redis) can't be reached."""
    from coop import outbox

    now = now or now_utc()
    lag_limit = float(current_app.config["TASKS_LAG_SECONDS"])
    ages = []
    oldest = outbox.oldest_due(session, now=now)
    if oldest is not None and (now - oldest).total_seconds() > lag_limit:
        ages.append(int((now - oldest).total_seconds()))
    report: dict = {}
    if not huey.immediate:
        try:
            beat = huey.get(HEARTBEAT_KEY, peek=True)
            report["queue_waiting"] = huey.pending_count()
        except Exception as err:  # noqa: BLE001 - the queue's storage is down
            return {"queue": "unavailable", "queue_error": str(err)[:200]}
        if beat is not None and now.timestamp() - float(beat) > 180:
            ages.append(int(now.timestamp() - float(beat)))
    if ages:
        return {"queue": "behind", "queue_oldest_seconds": max(ages), **report}
    return {"queue": "ok", **report}
