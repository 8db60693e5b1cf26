"""Helpers for the events tests: make events quickly through the services."""

from __future__ import annotations

import datetime as dt

import pytest

from coop.events import services
from coop.events.models import Event
from coop.extensions import db as _db


def future(days: int = 10, hour: int = 19) -> dt.datetime:
    day = dt.date.today() + dt.timedelta(days=days)
    return services.london_to_utc(day, dt.time(hour, 0))


@pytest.fixture
def make_event(app):
    """``make_event(title=..., capacity=2, visibility="members", ...)`` → a saved, published
    event (returned detached, with ``id`` and ``slug``)."""

    def factory(title: str = "A talk", *, starts_at: dt.datetime | None = None,
                minutes: int = 90, slug: str = "", series=None, **details):
        details.setdefault("status", "published")
        starts_at = starts_at or future()
        with app.app_context():
            event = services.create_event(
                _db.session, services.EventDetails(title=title, **details), starts_at,
                starts_at + dt.timedelta(minutes=minutes), slug=slug, series=series)
            _db.session.commit()
            event = _db.session.get(Event, event.id)
            _ = event.tags, event.series
            _db.session.expunge(event)
            return event

    return factory
