"""A reader finds the seminar series, takes it into a calendar, registers and cancels by email.

The demo series ("Science for the Future", 9, 16 and 23 November 2022) is in the past, so it
is found through the index of series (/series), under past series, and says it has ended;
the registration and the emailed cancel link are exercised on the next upcoming demo event,
the readers' meeting.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import icalendar
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser

SERIES = "Science for the Future"
MEETING = "Readers' and supporters' meeting, London"


def test_reader_finds_series_downloads_ics_registers_and_cancels_by_email(
        new_context, live_server):
    page = new_context().new_page()
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Events").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Events")
    screenshot(page, "events")
    # the past series is found from /events through the index of every series
    page.get_by_role("link", name="All seminar series").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Seminar series")
    page.get_by_role("region", name="Past series").get_by_role(
        "link", name=SERIES, exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(SERIES)
    expect(page.get_by_text("Rox Middleton, Liam Shaw and Joel Hellewell").first).to_be_visible()
    expect(page.get_by_text("Marx Memorial Library").first).to_be_visible()
    sessions = page.get_by_role("region", name="Sessions").get_by_role("listitem")
    expect(sessions).to_have_count(3)
    expect(sessions.nth(0)).to_contain_text("Wednesday 9 November 2022, 7pm")
    expect(sessions.nth(2)).to_contain_text("Wednesday 23 November 2022, 7pm")
    expect(page.get_by_text("This series has ended.")).to_be_visible()
    expect(page.get_by_role("heading", name="Register for the whole series")).to_have_count(0)
    screenshot(page, "series")

    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"Every session \(\.ics\)")).click()
    download = info.value
    assert download.suggested_filename.endswith(".ics")
    calendar = icalendar.Calendar.from_ical(Path(download.path()).read_bytes())
    events = sorted(calendar.walk("VEVENT"), key=lambda e: e.decoded("DTSTART"))
    assert len(events) == 3
    london_7pm = [e.decoded("DTSTART").astimezone(dt.UTC) for e in events]
    # November is GMT: 7pm in London is 19:00 UTC.
    assert london_7pm == [dt.datetime(2022, 11, d, 19, 0, tzinfo=dt.UTC) for d in (9, 16, 23)]
    assert len({str(e["UID"]) for e in events}) == 3
    assert all(SERIES in str(e["SUMMARY"]) for e in events)

    # The next meeting: register with name and email, without an account.
    email = f"ella-{uuid.uuid4().hex[:8]}@example.org"
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Events").click()
    page.get_by_role("link", name=MEETING).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(MEETING)
    meeting_url = page.url
    places = page.get_by_text(re.compile(r"(\d+) places? left")).first.inner_text()
    page.get_by_label("Your name").fill("Ella Reader")
    page.get_by_label("Your email").fill(email)
    page.get_by_role("button", name="Register").click()
    # back on the event page (the same answer whoever's address it is): the link is emailed
    expect(page.get_by_text(f"You're registered for “{MEETING}”").first).to_be_visible()
    screenshot(page, "event-registered")

    message = live_server.mail_to(email, MEETING)
    assert str(message["Subject"]).startswith("Your place:")
    links = [u for u in live_server.links_in(message) if "/events/registration/" in u]
    assert links, message.get_body(preferencelist=("plain",)).get_content()

    # Cancel from the email, in another browser (the reader's phone, say).
    phone = new_context(phone=True).new_page()
    phone.goto(links[0])
    expect(phone.get_by_role("heading", level=1)).to_have_text("Your registration")
    expect(phone.get_by_text("You have a place.")).to_be_visible()
    phone.get_by_role("button", name="Cancel my registration").click()
    expect(phone.get_by_text("Cancelled.", exact=True)).to_be_visible()
    expect(phone.get_by_role("button", name="Cancel my registration")).to_have_count(0)

    # The place is free again for the next reader.
    other = new_context().new_page()
    other.goto(meeting_url)
    expect(other.get_by_text(re.compile(r"(\d+) places? left")).first).to_have_text(places)


def test_a_new_event_saved_then_back_and_save_again_is_not_made_twice(new_context, live_server):
    """QA: Save a new event, press Back (the browser filled the form in again, under a new
    submission key) and Save again: a second, identical event was made. Forms that make
    something new are drawn with autocomplete="off", so Back shows them empty."""
    from tests.e2e.conftest import log_in

    page = new_context().new_page()
    log_in(page, "staff")
    page.goto("/staff/events/new")
    title = f"Branch meeting {uuid.uuid4().hex[:6]}"
    day = (dt.date.today() + dt.timedelta(days=40)).isoformat()
    page.get_by_label("Title").fill(title)
    page.get_by_label("Date", exact=True).fill(day)
    page.get_by_label("Starts at (London time)").fill("19:00")
    page.get_by_label("Ends at (London time)").fill("20:30")
    page.get_by_role("button", name="Save event").click()
    page.wait_for_url(lambda u: "/new" not in u)
    page.go_back()
    page.wait_for_url(lambda u: u.endswith("/staff/events/new"))
    if page.get_by_label("Title").input_value() == title:  # what the browser restored
        page.get_by_role("button", name="Save event").click()
        page.wait_for_load_state()
    page.goto("/staff/events")
    expect(page.get_by_role("link", name=title)).to_have_count(1)
    # the same for a message to everyone with a place: Back doesn't bring it back to send twice
    page.get_by_role("link", name=title).click()
    page.get_by_label("Subject").fill("Room change")
    page.locator("textarea[name=body]").fill("We are in room 2.")
    page.locator("#message-heading ~ form button[type=submit]").click()
    page.wait_for_load_state()
    page.go_back()
    page.wait_for_load_state()
    expect(page.get_by_label("Subject")).to_have_value("")
