"""Demo data, and the events parts of /account, "download my data" and account deletion."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from coop import hooks
from coop.cli import load_seed_file
from coop.events import seed, services
from coop.events.models import Event, Registration, Series
from coop.extensions import db as _db
from coop.outbox import OutboxMessage
from coop.timeutil import LONDON
from tests.events.conftest import ask_to_change_email, member_with_places


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


def test_registrations_follow_a_confirmed_change_of_account_email(app, make_user, make_event,
                                                                  outbox):
    """A member who confirmed a new email gets the emails about their places there (a
    change of time, here); a place the new address already holds keeps its own."""


    user = make_user("member", email="mo@example.org", name="Mo")
    talk, both = make_event("A talk"), make_event("Both addresses")
    public = app.test_client()
    for event in (talk, both):
        public.post(f"/events/{event.slug}/register", data={"name": "Mo", "email":
                                                            "mo@example.org"})
    public.post(f"/events/{both.slug}/register", data={"name": "Mo",
                                                       "email": "mo.new@example.org"})
    other = make_event("Someone else's")
    with app.app_context():  # a row at the old address tied to another account stays put
        stranger = make_user("member", email="someone@example.org")
        _db.session.add(Registration(event_id=other.id, user_id=stranger.id, name="S",
                                     email="mo@example.org", status="registered"))
        _db.session.commit()
    client, path = ask_to_change_email(app, outbox, user, "mo.new@example.org")
    assert client.post(path).status_code == 302

    with app.app_context():
        rows = _db.session.execute(sa.select(Event.title, Registration.email).join(Event)
                                   .order_by(Registration.id)).all()
        assert rows == [("A talk", "mo.new@example.org"), ("Both addresses", "mo@example.org"),
                        ("Both addresses", "mo.new@example.org"),
                        ("Someone else's", "mo@example.org")]
        from coop.events import notify

        event = _db.session.get(Event, talk.id)
        before, was = len(outbox()), notify.snapshot(event)
        services.update_event(_db.session, event, services.EventDetails(
            title="A talk", status="published"), event.starts_at + dt.timedelta(minutes=30),
            event.ends_at + dt.timedelta(minutes=30))
        assert notify.changed(_db.session, event, was) == 1
        _db.session.commit()
    changed = [m["To"] for m in outbox()[before:]]
    assert changed == ["mo.new@example.org"]


def test_registrations_that_follow_a_new_email_get_new_links(app, make_user, make_event,
                                                             outbox):
    """The old mailbox may not be the member's any more: the links already sent there stop
    working once the place has moved (mail still waiting to go there is dropped), and the
    place is still theirs at its new link."""
    from coop.events import links

    user = make_user("member", email="ann@example.org", name="Ann")
    talk = make_event("A talk")
    app.test_client().post(f"/events/{talk.slug}/register",
                           data={"name": "Ann", "email": "ann@example.org"})
    with app.app_context():
        reg = _db.session.scalar(sa.select(Registration))
        old_link = f"/events/registration/{links.link_token(reg)}"
        for n, (to, status) in enumerate([("ann@example.org", "failed"),  # still to go: dropped
                                          ("ann@example.org", "sent"),
                                          ("someone@example.org", "failed")]):
            _db.session.add(OutboxMessage(about=f"registration:{reg.id}", to_address=to,
                                          subject="About your place", raw=b"...",
                                          message_id=f"<{n}@test>", status=status))
        _db.session.commit()
    assert app.test_client().get(old_link).status_code == 200
    client, link = ask_to_change_email(app, outbox, user, "ann.new@example.org")
    assert client.post(link).status_code == 302
    assert app.test_client().get(old_link).status_code == 404
    with app.app_context():
        reg = _db.session.scalar(sa.select(Registration))
        assert reg.email == "ann.new@example.org"
        new_link = f"/events/registration/{links.link_token(reg)}"
        left = _db.session.execute(sa.select(OutboxMessage.to_address, OutboxMessage.status)
                                   .where(OutboxMessage.about == f"registration:{reg.id}")
                                   .where(OutboxMessage.subject == "About your place")
                                   .order_by(OutboxMessage.id)).all()
        assert left == [("ann@example.org", "sent"), ("someone@example.org", "failed")]
    assert "A talk" in app.test_client().get(new_link).get_data(as_text=True)


def test_a_registration_for_the_new_email_at_the_same_moment_is_no_500(
        app, make_user, make_event, outbox, monkeypatch):
    """Someone registers the new address for an event while the member confirms the change:
    the unique constraint fails the first try (a real IntegrityError from the database), the
    change is rolled back whole and made again, and that event keeps the other's place."""
    user, (_talk, contested) = member_with_places(app, make_user, make_event, "Bo", "A talk",
                                                  "Contested")
    real, tries = services.follow_account_email, []

    def racing(session, old, new, *, user_id):
        tries.append(new)
        if len(tries) == 1:  # the other request's row lands after our check, before our flush
            real(session, old, new, user_id=user_id)
        session.add(Registration(event_id=contested.id, name="Other", email=new,
                                 status="registered"))
        session.flush()
        if len(tries) > 1:  # on the second try that row is committed, so it is seen
            return real(session, old, new, user_id=user_id)

    monkeypatch.setattr(services, "follow_account_email", racing)
    client, link = ask_to_change_email(app, outbox, user, "bo.new@example.org")
    assert client.post(link).status_code == 302
    assert len(tries) == 2
    with app.app_context():
        rows = _db.session.execute(sa.select(Event.title, Registration.name, Registration.email)
                                   .join(Event).order_by(Registration.id)).all()
        assert rows == [("A talk", "Bo", "bo.new@example.org"),
                        ("Contested", "Bo", "bo@example.org"),
                        ("Contested", "Other", "bo.new@example.org")]
        assert _db.session.get(type(user), user.id).email == "bo.new@example.org"
    told = [m for m in outbox() if m["To"] == "bo@example.org"
            and "email address was changed" in m["Subject"]]
    assert len(told) == 1  # the rolled-back try's message was not kept


def test_an_email_change_that_keeps_meeting_writes_asks_to_open_the_link_again(
        app, make_user, make_event, outbox, monkeypatch):

    user = make_user("member", email="cy@example.org", name="Cy")
    talk = make_event("A talk")
    app.test_client().post(f"/events/{talk.slug}/register",
                           data={"name": "Cy", "email": "cy@example.org"})
    real = services.follow_account_email

    def always_racing(session, old, new, *, user_id):
        real(session, old, new, user_id=user_id)
        session.add(Registration(event_id=talk.id, name="Other", email=new, status="registered"))
        session.flush()

    monkeypatch.setattr(services, "follow_account_email", always_racing)
    client, link = ask_to_change_email(app, outbox, user, "cy.new@example.org")
    refused = client.post(link)
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "hasn't been changed yet" in page and "Open the link in the email again" in page
    with app.app_context():
        assert _db.session.get(type(user), user.id).email == "cy@example.org"
        assert _db.session.scalar(sa.select(Registration.email)) == "cy@example.org"
    monkeypatch.setattr(services, "follow_account_email", real)
    assert client.post(link).status_code == 302  # the link still works
    with app.app_context():
        assert _db.session.get(type(user), user.id).email == "cy.new@example.org"


class _DriverError(Exception):
    def __init__(self, sqlstate):
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("sqlstate, status, tried", [
    ("40P01", 302, 2),  # a deadlock PostgreSQL broke: tried again, and the change is made
    ("40001", 302, 2),  # a serialization failure: the same
    (None, 503, 1),     # the database gone away: not tried again, the usual 503 page
])
def test_an_email_change_tries_again_after_a_deadlock_but_not_after_any_error(
        app, make_user, outbox, monkeypatch, sqlstate, status, tried):

    user = make_user("member", email="di@example.org", name="Di")
    real, tries = services.follow_account_email, []

    def failing(session, old, new, *, user_id):
        tries.append(new)
        if sqlstate is None or len(tries) == 1:
            raise sa.exc.OperationalError("UPDATE event_registrations", {}, _DriverError(sqlstate))
        return real(session, old, new, user_id=user_id)

    monkeypatch.setattr(services, "follow_account_email", failing)
    client, link = ask_to_change_email(app, outbox, user, "di.new@example.org")
    assert client.post(link).status_code == status
    assert len(tries) == tried
    with app.app_context():
        changed = _db.session.get(type(user), user.id).email == "di.new@example.org"
    assert changed is (status == 302)
