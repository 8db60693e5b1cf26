"""Saved records for the tests of forms across features (``test_stale_token``,
``test_submissions``, ``test_edits``), and a snapshot of every table to compare before and
after a request."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from coop.db import Base
from coop.extensions import db as _db
from tests.fund.conftest import london_today


def snapshot(app) -> dict[str, list]:
    """Every row of every table but the login's session (reading a page touches it)."""
    with app.app_context():
        return {table.name: sorted(map(repr, _db.session.execute(sa.select(table)).all()))
                for table in Base.metadata.sorted_tables if table.name != "user_sessions"}


def campaign(app) -> int:
    """This month's campaign: ten days open, seventeen to go."""
    from coop.fund import services

    with app.app_context():
        today = london_today()
        saved = services.create_campaign(
            _db.session, name="This month", slug="this-month", target_pence=1_800_000,
            opens_on=today - dt.timedelta(days=10), deadline=today + dt.timedelta(days=17),
            donate_url="https://example.org/give")
        _db.session.commit()
        return saved.id


def event(app, title: str = "A talk", *, places: list[str] = (), **details) -> tuple[int, str]:
    """A published event next week, with a registration for each address in ``places``:
    (id, slug)."""
    from coop.events import services
    from tests.events.conftest import future

    with app.app_context():
        starts_at = future(days=7)
        saved = services.create_event(
            _db.session, services.EventDetails(title=title, status="published", **details),
            starts_at, starts_at + dt.timedelta(minutes=90))
        for email in places:
            services.register(_db.session, saved, name=email.split("@")[0], email=email)
        _db.session.commit()
        return saved.id, saved.slug


def notice(app, text: str = "Before") -> int:
    from coop.notices.models import Notice

    with app.app_context():
        saved = Notice(text=text, level="info",
                       starts_at=dt.datetime(2026, 7, 1, 8, tzinfo=dt.UTC))
        _db.session.add(saved)
        _db.session.commit()
        return saved.id


def enquiry(app, email: str = "ada@example.org") -> int:
    """A new share enquiry from Ada Lovelace, by cheque."""
    from coop.shares import services

    with app.app_context():
        saved = services.submit(
            _db.session, "shares", services.Contact(
                name="Ada Lovelace", email=email, address="1 Fleet Street\nLondon",
                postcode="EC4Y 1AA", country="GB"),
            10_000, payment_method="cheque")
        _db.session.commit()
        return saved.id


def series(app) -> str:
    """A published weekly series of three online sessions, a week ahead; its slug."""
    from coop.events import services

    with app.app_context():
        saved = services.create_series(
            _db.session, title="Stale token series", summary="Three seminars", description="",
            first_date=dt.date.today() + dt.timedelta(days=7), start_time=dt.time(19),
            duration=dt.timedelta(minutes=90), repeat="weekly", count=3,
            details=services.EventDetails(title="", status="published", online=True,
                                          joining_url="https://meet.example.org/s"))
        _db.session.commit()
        return saved.slug


def series_id(app) -> int:
    """The id of a new :func:`series`."""
    from coop.events.models import Series

    slug = series(app)
    with app.app_context():
        return _db.session.scalar(sa.select(Series.id).where(Series.slug == slug))
