"""Calendar files (parsed back with icalendar) and the Atom feed."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from icalendar import Calendar

from coop.events import services
from coop.events.models import Event
from coop.extensions import db as _db
from tests.events.conftest import future

ATOM = "{http://www.w3.org/2005/Atom}"


def parse(response) -> Calendar:
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    return Calendar.from_ical(response.data)


def vevents(cal: Calendar) -> list:
    return list(cal.walk("VEVENT"))


def test_event_ics_is_valid_with_utc_times_either_side_of_the_clock_change(client, make_event):
    october = make_event("October seminar",
                         starts_at=services.london_to_utc(dt.date(2022, 10, 20), dt.time(19)))
    november = make_event("November seminar",
                          starts_at=services.london_to_utc(dt.date(2022, 11, 3), dt.time(19)))
    [oct_event] = vevents(parse(client.get(f"/events/{october.slug}.ics")))
    [nov_event] = vevents(parse(client.get(f"/events/{november.slug}.ics")))
    assert oct_event.decoded("dtstart") == dt.datetime(2022, 10, 20, 18, 0, tzinfo=dt.UTC)
    assert nov_event.decoded("dtstart") == dt.datetime(2022, 11, 3, 19, 0, tzinfo=dt.UTC)
    assert nov_event.decoded("dtend") == dt.datetime(2022, 11, 3, 20, 30, tzinfo=dt.UTC)
    raw = client.get(f"/events/{november.slug}.ics").data
    assert b"DTSTART:20221103T190000Z" in raw and b"\r\n" in raw


def test_required_properties_and_stable_uid(client, make_event):
    event = make_event("Talk", tags=["science"], summary="About things")
    cal = parse(client.get(f"/events/{event.slug}.ics"))
    assert str(cal["version"]) == "2.0" and "prodid" in cal
    [item] = vevents(cal)
    assert str(item["uid"]) == f"event-{event.id}@127.0.0.1"
    assert isinstance(item.decoded("dtstamp"), dt.datetime)
    assert str(item["status"]) == "CONFIRMED"
    assert int(item["sequence"]) == 0
    assert str(item["url"]).endswith(f"/events/{event.slug}")
    # the UID doesn't change between downloads or with the request's host
    again = vevents(parse(client.get(f"/events/{event.slug}.ics",
                                     base_url="https://other.example")))[0]
    assert str(again["uid"]) == str(item["uid"])


def test_sequence_increases_and_cancelled_is_marked(client, app, make_event):
    event = make_event("Talk")
    with app.app_context():
        stored = _db.session.get(Event, event.id)
        services.update_event(_db.session, stored, services.EventDetails(
            title="Talk (new room)", status="published"), stored.starts_at, stored.ends_at)
        _db.session.commit()
    [item] = vevents(parse(client.get(f"/events/{event.slug}.ics")))
    assert int(item["sequence"]) == 1 and str(item["summary"]) == "Talk (new room)"
    with app.app_context():
        services.cancel_event(_db.session, _db.session.get(Event, event.id))
        _db.session.commit()
    [item] = vevents(parse(client.get(f"/events/{event.slug}.ics")))
    assert str(item["status"]) == "CANCELLED" and int(item["sequence"]) == 2


def test_feed_has_public_upcoming_events_only(client, make_event):
    make_event("Public one", starts_at=future(3))
    make_event("Cancelled one", status="cancelled", starts_at=future(4))
    make_event("Members one", visibility="members")
    make_event("Draft one", status="draft")
    make_event("Ancient one", starts_at=dt.datetime(2020, 1, 1, 19, tzinfo=dt.UTC))
    cal = parse(client.get("/events.ics"))
    summaries = sorted(str(e["summary"]) for e in vevents(cal))
    assert summaries == ["Cancelled: Cancelled one", "Public one"]
    assert str(cal["x-wr-calname"]).endswith("events")


def test_joining_link_only_in_calendar_when_public(client, make_event):
    hidden = make_event("Hidden link", online=True, joining_url="https://meet.example.org/h")
    shown = make_event("Shown link", online=True, joining_url="https://meet.example.org/s",
                       joining_url_public=True)
    assert b"meet.example.org/h" not in client.get(f"/events/{hidden.slug}.ics").data
    # one file for everyone, so it says where people with a place find it, and how to get one
    hint = str(vevents(parse(client.get(f"/events/{hidden.slug}.ics")))[0]["description"])
    assert "people with a place get the joining link by email and on their registration" in hint
    text = str(vevents(parse(client.get(f"/events/{shown.slug}.ics")))[0]["description"])
    assert "https://meet.example.org/s" in text


def test_series_ics_has_every_session(client, app):
    with app.app_context():
        series = services.create_series(
            _db.session, title="Science for the Future", summary="", description="",
            first_date=dt.date(2022, 11, 9), start_time=dt.time(19),
            duration=dt.timedelta(minutes=90), repeat="weekly", count=3,
            details=services.EventDetails(title="", status="published"))
        _db.session.commit()
        slug = series.slug
    items = vevents(parse(client.get(f"/series/{slug}.ics")))
    assert [i.decoded("dtstart") for i in items] == [
        dt.datetime(2022, 11, d, 19, tzinfo=dt.UTC) for d in (9, 16, 23)]
    assert len({str(i["uid"]) for i in items}) == 3
    assert client.get("/series/no-such.ics").status_code == 404


def test_atom_feed_lists_newly_published_public_events(client, make_event):
    make_event("First published")
    make_event("Second published")
    make_event("Members only", visibility="members")
    make_event("Not yet", status="draft")
    response = client.get("/events.atom")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    root = ET.fromstring(response.data)
    titles = [e.find(f"{ATOM}title").text for e in root.findall(f"{ATOM}entry")]
    assert len(titles) == 2
    assert titles[0].startswith("Second published") and titles[1].startswith("First published")
    ids = [e.find(f"{ATOM}id").text for e in root.findall(f"{ATOM}entry")]
    assert all(i.startswith("tag:127.0.0.1,2022:event-") for i in ids)
    assert root.find(f"{ATOM}link[@rel='self']").get("href").endswith("/events.atom")


def test_feeds_read_the_same_with_a_second_parser(app, client, make_event):
    """vobject (Radicale's parser) cuts unescaped commas and semicolons in TEXT values; every
    text property is escaped, X-WR-CALNAME and X-WR-CALDESC included."""
    import vobject

    title = "Science, Society; and the Paper"
    summary = "A series by the Science and Society team, with invited speakers; all welcome"
    with app.app_context():
        series = services.create_series(
            _db.session, title=title, summary=summary, description="",
            first_date=dt.date.today() + dt.timedelta(days=7), start_time=dt.time(19),
            duration=dt.timedelta(hours=1), repeat="weekly", count=2,
            details=services.EventDetails(title=title, summary=summary, status="published",
                                          venue="Conway Hall, 25 Red Lion Square; London",
                                          tags=["science"]))
        _db.session.commit()
        slug = series.slug
    make_event("Comma, semicolon; backslash \\ talk", summary="One, two; three")
    for path in (f"/series/{slug}.ics", "/events.ics"):
        response = client.get(path)
        assert response.status_code == 200, path
        calendar = vobject.readOne(response.get_data(as_text=True))
        if path.startswith("/series"):
            assert calendar.x_wr_calname.value == title
            assert calendar.x_wr_caldesc.value == summary
            first = calendar.vevent_list[0]
            assert first.location.value == "Conway Hall, 25 Red Lion Square; London"
            assert first.summary.value.startswith(title)
        else:
            summaries = {e.summary.value for e in calendar.vevent_list}
            assert "Comma, semicolon; backslash \\ talk" in summaries
            assert calendar.x_wr_calname.value.endswith(": events")
