"""The society's scheduled jobs: what each does, when it runs, and its last run for staff.

Each job is a plain function ``(session, now) -> summary`` that commits its own work; the
task queue runs it on its schedule (``coop/tasks.py``) and ``flask --app coop jobs run NAME``
runs it by hand. Every job is safe to run twice at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from coop.db import Base, UTCDateTime, now_utc
from coop.timeutil import london_today

log = logging.getLogger(__name__)


class JobRun(Base):
    """The last run of each scheduled job (one row a job)."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(default=True)
    #: what the last good run did, e.g. "Erased 3 enquiries"
    summary: Mapped[str] = mapped_column(sa.String(300), default="")
    error: Mapped[str] = mapped_column(sa.String(500), default="")
    #: runs that failed in a row (0 after a good one)
    failures: Mapped[int] = mapped_column(default=0)


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    #: in words, for staff and the CLI
    when: str
    #: huey.crontab keyword arguments (UTC)
    crontab: dict = field(default_factory=dict)
    run: Callable[[Session, dt.datetime], str] | None = None


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# -- the jobs ---------------------------------------------------------------------------


def event_reminders(session: Session, now: dt.datetime) -> str:
    from coop.events import reminders

    hours = float(current_app.config["EVENT_REMINDER_HOURS"])
    events = people = 0
    for event_id in reminders.due_events(session, now=now, hours=hours):
        try:
            sent = reminders.remind(session, event_id, now=now, hours=hours)
            session.commit()  # one event at a time: its claim and its mails together
        except SQLAlchemyError:
            session.rollback()
            raise
        events += 1
        people += sent
    who, what = _plural(people, "person", "people"), _plural(events, "event", "events")
    return f"Reminded {who} of {what}."


def purge_enquiries(session: Session, now: dt.datetime, *, days: int | None = None) -> str:
    """Closed enquiries' personal data, after ``ENQUIRY_RETENTION_DAYS`` (or ``days``: the
    ``purge-enquiries`` command)."""
    from coop.shares import services

    days = int(current_app.config["ENQUIRY_RETENTION_DAYS"]) if days is None else days
    count = services.purge(session, older_than=now - dt.timedelta(days=days))
    session.commit()
    return f"Erased {_plural(count, 'closed enquiry', 'closed enquiries')} older than {days} days."


def purge_newsletter_pending(session: Session, now: dt.datetime, *,
                             days: int | None = None) -> str:
    """Sign-ups never confirmed, after ``NEWSLETTER_PENDING_DAYS`` (or ``days``: the
    ``newsletter-purge-pending`` command)."""
    from coop.newsletter import services

    days = int(current_app.config["NEWSLETTER_PENDING_DAYS"]) if days is None else days
    count = services.purge_pending(session, older_than=now - dt.timedelta(days=days))
    session.commit()
    return (f"Deleted {_plural(count, 'unconfirmed sign-up', 'unconfirmed sign-ups')} older "
            f"than {days} days.")


def purge_login_failures(session: Session, now: dt.datetime) -> str:
    """The login throttle's counters untouched for a day, and sessions ended or unused for
    longer than the longest remember-me (what ``purge-login-failures`` does by hand)."""
    from coop.accounts import sessions, throttle

    counters = throttle.purge(session, older_than=now - dt.timedelta(hours=24))
    keep = max(current_app.config["REMEMBER_COOKIE_DURATION"], dt.timedelta(days=1))
    ended = sessions.purge(session, older_than=now - keep)
    session.commit()
    return (f"Forgot {_plural(counters, 'login-failure counter', 'login-failure counters')} "
            f"and {_plural(ended, 'old session', 'old sessions')}.")


def purge_idempotency_keys(session: Session, now: dt.datetime) -> str:
    """The API's Idempotency-Key answers, and the keys of forms sent (``coop.submissions``)."""
    from coop import submissions
    from coop.api import services

    days = int(current_app.config["API_IDEMPOTENCY_DAYS"])
    count = services.purge_keys(session, older_than=dt.timedelta(days=days), now=now)
    forms = submissions.purge(session,
                              older_than=now - dt.timedelta(days=submissions.KEEP_DAYS))
    session.commit()
    return (f"Forgot {_plural(count, 'idempotency key', 'idempotency keys')} older than {days} "
            f"days and {_plural(forms, 'form key', 'form keys')} older than "
            f"{submissions.KEEP_DAYS} days.")


def purge_sent_mail(session: Session, now: dt.datetime) -> str:
    from coop import outbox

    days = int(current_app.config["OUTBOX_KEEP_DAYS"])
    count = outbox.purge_sent(session, older_than=now - dt.timedelta(days=days))
    session.commit()
    return f"Forgot {_plural(count, 'delivered email', 'delivered emails')} older than {days} days."


def nightly_checks(session: Session, now: dt.datetime) -> str:
    """Every feature's consistency check (hook ``nightly_checks``: the fund's ledger and the
    register's); the admins are emailed any difference."""
    from coop import hooks

    problems: list[str] = []
    for name, found in hooks.call("nightly_checks", session):
        problems += [f"{name}: {line}" for line in found]
    session.rollback()  # the checks only read
    if problems:
        _email_admins(session, "Nightly check: differences found",
                      "The nightly checks found these differences:\n\n"
                      + "\n".join(f"- {p}" for p in problems)
                      + "\n\nRun the matching check (e.g. `flask --app coop fund-verify`) to see "
                      "them again once corrected.\n")
        session.commit()
        raise CheckFailed(f"{_plural(len(problems), 'difference', 'differences')}: "
                          + "; ".join(problems))
    return "Everything agrees."


class CheckFailed(Exception):
    """A nightly check found a difference (the admins have been emailed)."""


def _email_admins(session: Session, subject: str, text: str) -> int:
    from coop.accounts.models import Role, User
    from coop.outbox import enqueue_email

    admins = session.scalars(
        sa.select(User.email).where(User.role == Role.ADMIN.value, User.active.is_(True))
    ).all()
    for address in admins:
        enqueue_email(session, to=address, subject=subject, text=text, kind="ops.nightly-check",
                      reply_to="")
    return len(admins)


def fund_roll_over(session: Session, now: dt.datetime) -> str:
    from coop.fund import services

    today = london_today(now)
    campaign = services.roll_over(session, today)
    if campaign is None:
        return "Nothing to do: a campaign covers today and tomorrow."
    session.commit()
    return f"Opened {campaign.name} ({campaign.opens_on:%d %b}–{campaign.deadline:%d %b %Y})."


JOBS: dict[str, Job] = {job.name: job for job in (
    Job("event-reminders", "Email people with a place before their event", "every 5 minutes",
        {"minute": "*/5"}, event_reminders),
    Job("purge-enquiries", "Erase closed share enquiries past the retention period",
        "daily at 02:10 UTC", {"hour": "2", "minute": "10"}, purge_enquiries),
    Job("purge-newsletter-pending", "Delete newsletter sign-ups never confirmed",
        "daily at 02:20 UTC", {"hour": "2", "minute": "20"}, purge_newsletter_pending),
    Job("purge-login-failures", "Forget old login-failure counters and ended sessions",
        "daily at 02:30 UTC", {"hour": "2", "minute": "30"}, purge_login_failures),
    Job("purge-idempotency-keys", "Forget the payment API's old Idempotency-Key answers and "
        "the keys of forms sent a week ago",
        "daily at 02:40 UTC", {"hour": "2", "minute": "40"}, purge_idempotency_keys),
    Job("purge-sent-mail", "Forget delivered emails kept in the outbox", "daily at 02:50 UTC",
        {"hour": "2", "minute": "50"}, purge_sent_mail),
    Job("nightly-checks", "Check the fund's totals against its ledger (and the register's); "
        "email the admins on any difference", "daily at 03:00 UTC",
        {"hour": "3", "minute": "0"}, nightly_checks),
    Job("fund-roll-over", "Open the next fighting-fund campaign the day after one closes",
        "hourly at :05", {"minute": "5"}, fund_roll_over),
)}


def run_job(name: str, *, now: dt.datetime | None = None) -> str:
    """Run one job now and record the outcome; its exception is re-raised after recording."""
    from coop.extensions import db

    job = JOBS[name]
    now = now or now_utc()
    session = db.session
    started = now_utc()
    try:
        summary = job.run(session, now)
    except Exception as err:
        session.rollback()
        _record(session, name, started=started, ok=False, error=f"{type(err).__name__}: {err}")
        raise
    _record(session, name, started=started, ok=True, summary=summary)
    return summary


def _record(session: Session, name: str, *, started: dt.datetime, ok: bool,
            summary: str = "", error: str = "") -> None:
    """Best effort: with the database down the failure is only logged (the worker goes on)."""
    try:
        run = session.get(JobRun, name) or JobRun(name=name, failures=0)
        session.add(run)
        run.started_at, run.finished_at, run.ok = started, now_utc(), ok
        if ok:
            run.summary, run.error, run.failures = summary[:300], "", 0
        else:
            run.error, run.failures = error[:500], (run.failures or 0) + 1
        session.commit()
    except SQLAlchemyError as err:
        session.rollback()
        log.warning("could not record the run of job %s: %s", name, err)
    if not ok:
        log.error("scheduled job %s failed: %s", name, error)


def last_runs(session: Session) -> dict[str, JobRun]:
    return {run.name: run for run in session.scalars(sa.select(JobRun))}
