"""Two people editing the same thing: the second to save, from a page drawn before the first
saved, is told and saves nothing, keeping what they typed (``coop.forms.GuardsEdits``);
sending it again then saves theirs over the first's, knowingly."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from coop.extensions import db as _db
from coop.forms import EDITED_MEANWHILE
from tests.events.test_staff import event_form
from tests.records import campaign, enquiry, event, notice, series_id


def _seen(page: str) -> str:
    [value] = re.findall(r'name="seen"[^>]*value="([^"]+)"', page)
    return value


def _value(app, sql: str, **params):
    with app.app_context():
        return _db.session.execute(sa.text(sql), params).scalar()


_CONTACT = {"name": "Ada Lovelace", "email": "ada@example.org", "address": "1 Fleet Street",
            "postcode": "EC4Y 1AA", "country": "GB"}

#: what: (make it, its edit page, the first tab's change, the second tab's, read it back)
CASES = {
    "campaign": (campaign, "/staff/fund/{}/edit",
                 {"name": "This month", "target": "20,000", "opens_on": "2026-12-01",
                  "deadline": "2026-12-31"},
                 {"name": "Renamed", "target": "18,000", "opens_on": "2026-12-01",
                  "deadline": "2026-12-31"},
                 "SELECT target_pence FROM fund_campaigns WHERE id = :id", 2_000_000, 1_800_000),
    "event": (lambda app: event(app, "Two tabs", capacity=50)[0], "/staff/events/{}/edit",
              event_form(title="Two tabs", slug="two-tabs", capacity="50",
                         presenters="Tab B"),
              event_form(title="Two tabs", slug="two-tabs", capacity="2", presenters="Tab A"),
              "SELECT capacity FROM events WHERE id = :id", 50, 2),
    "series": (series_id, "/staff/events/series/{}",
               {"title": "Stale token series", "summary": "From tab B", "description": ""},
               {"title": "Stale token series", "summary": "From tab A", "description": ""},
               "SELECT summary FROM event_series WHERE id = :id", "From tab B", "From tab A"),
    "notice": (notice, "/staff/notices/{}/edit",
               {"text": "From tab B", "level": "warning", "starts_at": "2026-07-01T09:00"},
               {"text": "From tab A", "level": "info", "starts_at": "2026-07-01T09:00"},
               "SELECT text FROM notices WHERE id = :id", "From tab B", "From tab A"),
    "enquiry": (enquiry, "/staff/enquiries/{}/contact",
                {**_CONTACT, "phone": "020 7946 0001", "reason": "Tab B"},
                {**_CONTACT, "phone": "020 7946 0002", "reason": "Tab A"},
                "SELECT phone FROM share_enquiries WHERE id = :id", "020 7946 0001",
                "020 7946 0002"),
}


@pytest.mark.parametrize("what", sorted(CASES))
def test_the_second_tab_is_told_instead_of_undoing_the_first(what, app, client, login_as):
    make, path, first, second, read, firsts, seconds = CASES[what]
    login_as("staff")
    thing = make(app)
    url = path.format(thing)
    tab_a = _seen(client.get(url).get_data(as_text=True))
    tab_b = _seen(client.get(url).get_data(as_text=True))
    assert client.post(url, data={**first, "seen": tab_b}).status_code == 302

    refused = client.post(url, data={**second, "seen": tab_a})

    assert refused.status_code == 422
    page = html.unescape(refused.get_data(as_text=True))
    assert EDITED_MEANWHILE in page
    assert _value(app, read, id=thing) == firsts  # the first tab's change stands
    kept = {"campaign": 'value="Renamed"', "event": 'value="Tab A"', "series": "From tab A",
            "notice": "From tab A", "enquiry": 'value="020 7946 0002"'}[what]
    assert kept in page  # what the second tab typed is still there
    # sent again from the page drawn now: saved over, knowingly
    again = client.post(url, data={**second, "seen": _seen(page)})
    assert again.status_code == 302
    assert _value(app, read, id=thing) == seconds


def test_a_page_without_the_version_still_saves(app, client, login_as):
    """A form drawn before this (or posted by hand) isn't refused for lacking it."""
    login_as("staff")
    campaign_id = campaign(app)
    assert client.post(f"/staff/fund/{campaign_id}/edit", data={
        "name": "Renamed", "target": "19,000", "opens_on": "2026-12-01",
        "deadline": "2026-12-31"}).status_code == 302


def test_an_event_page_drawn_before_it_was_cancelled_says_so_at_once(app, client, login_as):
    """QA: saved from a page drawn before another tab cancelled the event, the form said only
    "Status: …" (published is no longer a choice), and that it had changed only when sent a
    second time."""
    from coop.events import services
    from coop.events.models import Event

    login_as("staff")
    event_id, _slug = event(app, "Two tabs", capacity=50)
    url = f"/staff/events/{event_id}/edit"
    drawn = _seen(client.get(url).get_data(as_text=True))
    with app.app_context():
        services.cancel_event(_db.session, _db.session.get(Event, event_id))
        _db.session.commit()
    refused = client.post(url, data={**event_form(title="Two tabs", summary="Changed"),
                                     "seen": drawn})
    assert refused.status_code == 422
    page = html.unescape(refused.get_data(as_text=True))
    assert EDITED_MEANWHILE in page and 'value="Changed"' in page
    assert _value(app, "SELECT status FROM events WHERE id = :id", id=event_id) == "cancelled"
