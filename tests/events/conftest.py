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


def ask_to_change_email(app, outbox, user, new: str):
    """Log ``user`` in (a client of its own), ask for ``new`` as their email, and return
    (that client, the path of the confirmation link emailed to ``new``)."""
    import re

    from tests.conftest import PASSWORD

    client = app.test_client()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert client.post("/account/email", data={"new_email": new,
                                               "email_password": PASSWORD}).status_code == 302
    [message] = [m for m in outbox() if m["Subject"].startswith("Confirm") and m["To"] == new]
    return client, re.search(r"https?://\S+?(/account/email/confirm/\S+)",
                             message.get_content())[1]


def member_with_places(app, make_user, make_event, name: str, *titles: str):
    """A member ``name`` (email ``<name>@example.org``) registered, without logging in, for a
    new event of each title: (the user, the events)."""
    email = f"{name.lower()}@example.org"
    user = make_user("member", email=email, name=name)
    events = [make_event(title) for title in titles]
    public = app.test_client()
    for event in events:
        public.post(f"/events/{event.slug}/register", data={"name": name, "email": email})
    return user, events

