"""Reminders before an event, the .ics on confirmations, and registrants told of a cancellation
or a new time or place — all through the outbox, on a frozen clock where time matters."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import vobject

from coop import schedule
from coop.db import now_utc
from coop.events import reminders, services
from coop.events.models import Event, Registration
from coop.extensions import db as _db
from coop.outbox import OutboxMessage


def _register(app, event_id: int, email: str, *, at: dt.datetime | None = None,
              status: str = "registered") -> int:
    with app.app_context():
        registration = Registration(event_id=event_id, name=email.split("@")[0], email=email,
                                    status=status, created_at=at or now_utc(),
                                    queued_at=at or now_utc())
        _db.session.add(registration)
        _db.session.commit()
        return registration.id


def _kinds(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [(m.kind, m.to_address) for m in _db.session.scalars(
            sa.select(OutboxMessage).order_by(OutboxMessage.id))]


def _ics(message):
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return vobject.readOne(part.get_content() if isinstance(part.get_content(), str)
                           else part.get_content().decode())


def test_reminder_once_within_the_window_with_venue_or_joining_link(app, make_event, outbox):
    start = now_utc().replace(microsecond=0) + dt.timedelta(days=3)
    hall = make_event("Hall talk", starts_at=start, venue="Marx Memorial Library",
                      address="37a Clerkenwell Green, London")
    online = make_event("Online talk", starts_at=start + dt.timedelta(hours=1), online=True,
                        joining_url="https://meet.example.org/abc")
    early = start - dt.timedelta(days=5)
    _register(app, hall.id, "ann@example.org", at=early)
    _register(app, online.id, "bob@example.org", at=early)
    _register(app, online.id, "wait@example.org", at=early, status="waiting")
    with app.app_context():
        # two days before: not yet
        assert schedule.run_job("event-reminders", now=start - dt.timedelta(hours=48)) \
            .startswith("Reminded 0 people")
        # 23 hours before: both events, the people with a place only
        summary = schedule.run_job("event-reminders", now=start - dt.timedelta(hours=23))
        assert summary == "Reminded 2 people of 2 events."
        # again (another worker, the next tick): nothing more
        again = schedule.run_job("event-reminders", now=start - dt.timedelta(hours=22))
        assert again.startswith("Reminded 0 people of 0 events")
    sent = {m["To"]: m for m in outbox()}
    assert set(sent) == {"ann@example.org", "bob@example.org"}
    hall_text = sent["ann@example.org"].get_body(("plain",)).get_content()
    online_text = sent["bob@example.org"].get_body(("plain",)).get_content()
    assert "Where: Marx Memorial Library" in hall_text and "meet.example.org" not in hall_text
    # QA: each said where, or the joining link, twice; and "so someone on the waiting list
    # can have your place" for an event with no limit on places
    assert online_text.count("https://meet.example.org/abc") == 1
    assert "Joining link: https://meet.example.org/abc" in online_text
    assert hall_text.count("Marx Memorial Library") == 1
    assert "please cancel, so we know" in hall_text and "waiting list" not in hall_text
    assert sent["ann@example.org"]["Subject"] == "Reminder: Hall talk"
    assert sent["ann@example.org"]["Reply-To"] == app.config["SOCIETY_EMAIL"]


def test_late_registrants_are_not_reminded_and_a_deleted_event_is_skipped(app, make_event):
    start = now_utc() + dt.timedelta(hours=10)
    event = make_event("Soon", starts_at=start)
    _register(app, event.id, "late@example.org", at=now_utc())  # inside the window already
    gone = make_event("Gone", starts_at=start)
    with app.app_context():
        due = reminders.due_events(_db.session, now=now_utc(), hours=24)
        assert set(due) == {event.id, gone.id}
        _db.session.delete(_db.session.get(Event, gone.id))  # deleted meanwhile
        _db.session.commit()
        assert reminders.remind(_db.session, gone.id, now=now_utc(), hours=24) == 0
        assert reminders.remind(_db.session, event.id, now=now_utc(), hours=24) == 0
        _db.session.commit()
        assert _db.session.get(Event, event.id).reminded_at is not None
    assert _kinds(app) == []


def test_confirmation_carries_an_ics_that_a_second_parser_reads(client, make_event, outbox):
    event = make_event("Science, Society; and Us", venue="Conway Hall, Red Lion Square")
    client.post(f"/events/{event.slug}/register", data={"name": "Ann", "email": "a@example.org"})
    [message] = outbox()
    calendar = _ics(message)
    assert calendar.x_wr_calname.value == "Science, Society; and Us"
    assert calendar.vevent.summary.value == "Science, Society; and Us"
    assert calendar.vevent.location.value.startswith("Conway Hall, Red Lion Square")
    assert int(calendar.vevent.sequence.value) == 0


def test_cancelling_an_event_tells_everyone_with_a_raised_sequence(app, client, login_as,
                                                                  make_event, outbox):
    event = make_event("Called off", capacity=1)
    _register(app, event.id, "has@example.org")
    _register(app, event.id, "waits@example.org", status="waiting")
    _register(app, event.id, "left@example.org", status="cancelled")
    login_as("staff")
    response = client.post(f"/staff/events/{event.id}/cancel", data={"confirm": "y"},
                           follow_redirects=True)
    assert "the 2 people registered or waiting are emailed" in response.get_data(as_text=True)
    told = {m["To"]: m for m in outbox()}
    assert set(told) == {"has@example.org", "waits@example.org"}
    calendar = _ics(told["has@example.org"])
    assert calendar.vevent.status.value == "CANCELLED"
    assert int(calendar.vevent.sequence.value) == 1
    assert "reply" in told["has@example.org"].get_body(("plain",)).get_content().lower()
    assert told["has@example.org"]["Reply-To"]
    # cancelling again tells nobody again, and says so (QA: "the 0 people … are emailed")
    again = client.post(f"/staff/events/{event.id}/cancel", data={"confirm": "y"},
                        follow_redirects=True).get_data(as_text=True)
    assert "“Called off” was already cancelled; nobody was emailed again." in again
    assert len(outbox()) == 2
    # nor can a place on it be given up, which would email a second, misleading message
    staff_page = client.get(f"/staff/events/{event.id}").get_data(as_text=True)
    assert "Cancel place" not in staff_page and "Take off the list" not in staff_page
    with app.app_context():
        from coop.events.links import link_token

        waiting = _db.session.scalar(sa.select(Registration).where(
            Registration.email == "waits@example.org"))
        with pytest.raises(services.NotCancellable, match="event itself has been cancelled"):
            services.cancel_registration(_db.session, waiting)
        _db.session.rollback()
        token = link_token(_db.session.scalar(sa.select(Registration).where(
            Registration.email == "has@example.org")))
    manage = client.get(f"/events/registration/{token}")
    assert "This event has been cancelled" in manage.get_data(as_text=True)
    assert "Cancel my registration" not in manage.get_data(as_text=True)
    assert len(outbox()) == 2


def test_a_new_time_or_place_is_emailed_and_the_reminder_goes_again(app, make_event, outbox):
    start = now_utc().replace(microsecond=0) + dt.timedelta(hours=20)
    event = make_event("Moved", starts_at=start, venue="Old hall")
    _register(app, event.id, "ann@example.org", at=start - dt.timedelta(days=3))
    with app.app_context():
        assert schedule.run_job("event-reminders", now=now_utc()).startswith("Reminded 1 person")
        from coop.events import notify

        row = _db.session.get(Event, event.id)
        details = services.EventDetails(title=row.title, venue="New hall", status="published")
        before = notify.snapshot(row)
        later = start + dt.timedelta(days=1)
        services.update_event(_db.session, row, details, later, later + dt.timedelta(hours=1))
        assert notify.changed(_db.session, row, before) == 1
        _db.session.commit()
        assert row.reminded_at is None  # the new time gets its own reminder
        # a change of summary alone tells nobody
        before = notify.snapshot(row)
        details.summary = "Now with tea"
        services.update_event(_db.session, row, details, later, later + dt.timedelta(hours=1))
        assert notify.changed(_db.session, row, before) == 0
        _db.session.commit()
    reminder, changed = outbox()
    assert reminder["Subject"] == "Reminder: Moved"
    assert changed["Subject"] == "Changed: Moved"
    text = changed.get_body(("plain",)).get_content()
    assert "The time and place of Moved have changed" in text  # QA: "has" and "New hall" in text
    assert int(_ics(changed).vevent.sequence.value) == 1


def test_waiting_list_position_on_the_registration_page(app, client, make_event):
    from coop.events.links import sign

    event = make_event("Full", capacity=1)
    t = now_utc()
    _register(app, event.id, "in@example.org", at=t)
    ids = [_register(app, event.id, f"w{n}@example.org", at=t + dt.timedelta(minutes=n),
                     status="waiting") for n in range(1, 4)]
    with app.app_context():
        third = _db.session.get(Registration, ids[2])
        assert services.waiting_position(_db.session, third) == 3
        token = sign(third.token)
    page = client.get(f"/events/registration/{token}").get_data(as_text=True)
    assert "waiting list: number 3 in line" in page


@pytest.mark.parametrize("hours", [1, 48])
def test_the_reminder_window_is_a_setting(make_app, make_event, hours):
    app = make_app(EVENT_REMINDER_HOURS=hours)
    start = now_utc() + dt.timedelta(hours=30)
    event = make_event("Later", starts_at=start)
    _register(app, event.id, "a@example.org", at=start - dt.timedelta(days=9))
    with app.app_context():
        summary = schedule.run_job("event-reminders")
    assert summary.startswith("Reminded 1 person" if hours == 48 else "Reminded 0 people")


def test_a_change_says_what_the_time_was_and_gives_the_waiting_list_no_calendar_entry(
        app, make_event, outbox):
    """A calendar entry reads as a place, so only people with one get it; people waiting
    are told where they are in line. Everyone is told the old time beside the new."""
    from coop.events import notify
    from coop.events.display import times_when

    start = now_utc().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=5)
    event = make_event("Moved again", starts_at=start, capacity=1)
    _register(app, event.id, "in@example.org")
    _register(app, event.id, "wait@example.org", status="waiting")
    with app.app_context():
        row = _db.session.get(Event, event.id)
        before = notify.snapshot(row)
        later = start + dt.timedelta(days=1)
        services.update_event(_db.session, row, services.EventDetails(
            title=row.title, status="published", capacity=1), later,
            later + dt.timedelta(hours=1))
        assert notify.changed(_db.session, row, before) == 2
        _db.session.commit()
        old = times_when(start, start + dt.timedelta(minutes=90))
    mails = {m["To"]: m for m in outbox()}
    for person in ("in@example.org", "wait@example.org"):
        assert f"It was {old}; it is now" in mails[person].get_body(("plain",)).get_content()
    assert int(_ics(mails["in@example.org"]).vevent.sequence.value) == 1
    waiting = mails["wait@example.org"]
    assert not [p for p in waiting.iter_attachments()
                if p.get_content_type() == "text/calendar"]
    assert "waiting list: number 1 in line" in waiting.get_body(("plain",)).get_content()


def test_joining_the_waiting_list_sends_no_calendar_entry(app, client, make_event, outbox):
    event = make_event("Full up", capacity=1)
    for n in (1, 2):
        client.post(f"/events/{event.slug}/register",
                    data={"name": f"P{n}", "email": f"p{n}@example.org"})
    placed, waiting = outbox()
    assert placed["Subject"] == "Your place: Full up" and _ics(placed)
    assert waiting["Subject"] == "Waiting list: Full up"
    assert not [p for p in waiting.iter_attachments()
                if p.get_content_type() == "text/calendar"]


def test_cancelling_sends_the_waiting_list_no_calendar_entry(app, client, login_as, make_event,
                                                            outbox):
    event = make_event("Called off", capacity=1)
    _register(app, event.id, "in@example.org")
    _register(app, event.id, "wait@example.org", status="waiting")
    login_as("staff")
    client.post(f"/staff/events/{event.id}/cancel", data={"confirm": "y"})
    mails = {m["To"]: m for m in outbox() if m["Subject"] == "Cancelled: Called off"}
    assert _ics(mails["in@example.org"]).vevent.status.value == "CANCELLED"
    waiting = mails["wait@example.org"]
    assert not [p for p in waiting.iter_attachments()
                if p.get_content_type() == "text/calendar"]
    assert "You were on its waiting list." in waiting.get_body(("plain",)).get_content()
