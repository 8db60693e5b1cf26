"""Reminders before an event (``EVENT_REMINDER_HOURS``), sent once even when several workers
run the job at the same moment: each event is claimed by one guarded ``UPDATE``."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coop.events import notify
from coop.events.models import Event, Registration, RegistrationStatus, Status


def due_events(session: Session, *, now: dt.datetime, hours: float) -> list[int]:
    """Published events starting within ``hours`` whose reminder has not gone."""
    return list(session.scalars(
        sa.select(Event.id).where(
            Event.status == Status.PUBLISHED.value,
            Event.reminded_at.is_(None),
            Event.starts_at > now,
            Event.starts_at <= now + dt.timedelta(hours=hours),
        ).order_by(Event.starts_at)
    ))


def claim(session: Session, event_id: int, *, now: dt.datetime) -> bool:
    """Take the event's reminder for this transaction; ``False`` if another worker has it."""
    result = session.execute(
        sa.update(Event)
        .where(Event.id == event_id, Event.reminded_at.is_(None),
               Event.status == Status.PUBLISHED.value)
        .values(reminded_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def remind(session: Session, event_id: int, *, now: dt.datetime, hours: float) -> int:
    """Claim one event and queue a reminder to everyone with a place, in one transaction.

    People who registered once the reminder window had opened are left out: their
    confirmation, a moment ago, said it all. Returns how many reminders were queued.
    """
    if not claim(session, event_id, now=now):
        return 0
    event = session.get(Event, event_id)
    if event is None:  # deleted meanwhile
        return 0
    session.refresh(event)
    window_opened = event.starts_at - dt.timedelta(hours=hours)
    people = session.scalars(
        sa.select(Registration).where(
            Registration.event_id == event_id,
            Registration.status == RegistrationStatus.REGISTERED.value,
            Registration.created_at < window_opened,
        ).order_by(Registration.id)
    ).all()
    for registration in people:
        notify.reminder(registration)
    session.flush()
    return len(people)
