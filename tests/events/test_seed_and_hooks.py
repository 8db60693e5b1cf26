"""Demo data, and the events parts of /account, "download my data" and account deletion."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from coop import hooks
from coop.cli import load_seed_file
from coop.events import seed, services
from coop.events.models import Event, Registration, Series
from coop.extensions import db as _db
from coop.timeutil import LONDON


def test_seed_has_the_science_for_the_future_series_and_is_idempotent(db):
    data = load_seed_file("events")
    today = dt.date.today()
    summary = seed.load(db.session, data, today)
    db.session.commit()
    assert "Science for the Future" in summary
    series = db.session.scalar(sa.select(Series).where(Series.slug == "science-for-the-future"))
    sessions = sorted(series.events, key=lambda e: e.starts_at)
    assert [e.starts_at for e in sessions] == [
        dt.datetime(2022, 11, d, 19, tzinfo=dt.UTC) for d in (9, 16, 23)]
    assert all(e.online and e.partner == "Marx Memorial Library" for e in sessions)
    assert all("Rox Middleton, Liam Shaw and Joel Hellewell" in e.presenters for e in sessions)
    assert all(e.details_url.startswith("https://") for e in sessions)
    assert all(s.starts_at.astimezone(LONDON).strftime("%A %H:%M") == "Wednesday 19:00"
               for s in sessions)
    upcoming = db.session.scalars(sa.select(Event).where(Event.series_id.is_(None))).all()
    assert all(e.starts_at.date() > today for e in upcoming)
    assert any(e.capacity and not e.online for e in upcoming)
    assert any(e.visibility == "members" for e in upcoming)
    regs = db.session.scalars(sa.select(Registration)).all()
    assert {r.email for r in regs} == {"member@example.org", "sam.reader@example.org"}
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Event))
    assert "already loaded" in seed.load(db.session, data, today)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registration)) == 2


def test_seed_command_runs(runner):
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert "Events: added" in result.output


def test_listing_shows_series_together(client, app):
    with app.app_context():
        services.create_series(
            _db.session, title="Science for the Future", summary="Three seminars",
            description="", first_date=dt.date.today() + dt.timedelta(days=7),
            start_time=dt.time(19), duration=dt.timedelta(minutes=90), repeat="weekly",
            count=3, details=services.EventDetails(title="", status="published"))
        _db.session.commit()
    html = client.get("/events").get_data(as_text=True)
    assert "Seminar series" in html and 'href="/series/science-for-the-future"' in html
    section = html[html.index("Seminar series"):html.index("</section>",
                                                            html.index("Seminar series"))]
    assert section.count("<li>") == 3


def test_data_export_and_account_deletion_hooks(app, make_user, make_event, outbox):
    user = make_user(email="kim@example.org")
    event = make_event("Small room", capacity=1)
    with app.app_context():
        stored = _db.session.get(Event, event.id)
        services.register(_db.session, stored, name="Kim", email="kim@example.org")
        services.register(_db.session, stored, name="Next", email="next@example.org")
        _db.session.commit()
        from coop.accounts.models import User

        account = _db.session.get(User, user.id)
        exports = dict(hooks.call("data_export", _db.session, account))
        assert exports["event_registrations"][0]["event"] == "Small room"
        for func in app.extensions["coop.hooks"]["account_deletion"]:
            if func.__module__ == "coop.events":
                func(_db.session, account)
        _db.session.commit()
        rows = _db.session.scalars(sa.select(Registration).order_by(Registration.id)).all()
        assert rows[0].email.endswith("@invalid") and rows[0].status == "cancelled"
        assert rows[1].status == "registered"
    assert outbox()[-1]["To"] == "next@example.org"
