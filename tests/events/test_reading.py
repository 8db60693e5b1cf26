"""Events pages that read well: cards with people, series pages said once, ended series, the
series index, waiting-list positions, "Log in to see this", and complete JSON-LD."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from coop.cli import load_seed_file
from coop.events import display, seed, services
from coop.extensions import db as _db
from tests.conftest import login
from tests.events.conftest import future

PRESENTERS = "Rox Middleton, Liam Shaw and Joel Hellewell, with invited speakers"


def _series(app, *, first_date: dt.date, count: int = 3, title="Science for the Future",
            **details) -> str:
    details.setdefault("status", "published")
    with app.app_context():
        series = services.create_series(
            _db.session, title=title, summary="Three seminars", description="",
            first_date=first_date, start_time=dt.time(19), duration=dt.timedelta(minutes=90),
            repeat="weekly", count=count, details=services.EventDetails(title="", **details))
        _db.session.commit()
        return series.slug


def _json_ld(html: str):
    return json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>',
                                html, re.S)[1])


def _main(html: str) -> str:
    return html[html.index("<main"):html.index("</main>")]


# --- listing cards and the series page ------------------------------------------------------

def test_listing_card_shows_presenters_and_partner(client, make_event):
    make_event("Science talk", presenters=PRESENTERS, partner="Marx Memorial Library")
    make_event("Plain talk")
    html = client.get("/events").get_data(as_text=True)
    assert (f"With {PRESENTERS}, in collaboration with Marx Memorial Library"
            in html)
    assert html.count('class="event-people"') == 1


def test_listing_card_shows_series_tags_places_and_flags(client, app, make_event):
    """The cards are read as plain rows (services.Card): every part of a card still shows."""
    slug = _series(app, first_date=dt.date.today() + dt.timedelta(days=7), count=1,
                   venue="Conway Hall", capacity=5, tags=["science", "history"])
    make_event("Members' briefing", visibility="members", online=True)
    make_event("Called off", status="cancelled", capacity=3)
    make_event("Untagged talk", venue="Hall", address="1 High St")
    # past page 1 the series block is not shown: the cards alone are left to read
    page = _main(client.get("/events?mode=in-person").get_data(as_text=True))
    card = page[page.index('<article class="event-card">'):]
    card = card[:card.index("</article>")]
    assert f'Part of the series <a href="/series/{slug}">Science for the Future</a>' in card
    assert ('<li><a href="/events?tag=history">history</a></li>'
            '<li><a href="/events?tag=science">science</a></li>') in card
    assert 'class="event-tags" aria-label="Tags"' in card
    assert "5 places left" in card and "Conway Hall" in card
    assert "Members' briefing" not in page and "Members&#39; briefing" not in page
    untagged = page[page.index(">Untagged talk<"):]
    untagged = untagged[:untagged.index("</article>")]
    assert "Hall, 1 High St" in untagged
    assert "event-tags" not in untagged and "event-series" not in untagged
    cancelled = page[page.index(">Called off<"):]
    cancelled = cancelled[:cancelled.index("</article>")]
    assert "<strong>Cancelled</strong>" in cancelled and "places left" not in cancelled


def test_series_page_says_shared_things_once_and_links_without_bare_urls(client, app):
    slug = _series(app, first_date=dt.date.today() + dt.timedelta(days=7), online=True,
                   presenters=PRESENTERS, partner="Marx Memorial Library",
                   details_url="https://www.marx-memorial-library.org.uk/events")
    html = _main(client.get(f"/series/{slug}").get_data(as_text=True))
    assert html.count(PRESENTERS) == 1
    assert html.count("Marx Memorial Library") == 1
    assert "Online ," not in html and " , " not in html
    assert ('<a href="https://www.marx-memorial-library.org.uk/events" rel="noopener">'
            "marx-memorial-library.org.uk</a>") in html
    assert ">https://" not in html  # no URL as link text
    # sessions named within the series, not "Science for the Future: session 1 of 3" again
    assert ">Session 1 of 3</a>" in html and "Science for the Future: session" not in html
    assert "Register for the whole series" in html and "This series has ended" not in html


def test_sessions_that_differ_say_so_in_the_list(client, app, make_event):
    slug = _series(app, first_date=dt.date.today() + dt.timedelta(days=7), count=2,
                   venue="Marx Memorial Library", address="37a Clerkenwell Green, London")
    with app.app_context():
        series = services.series_sessions(_db.session, _series_obj(slug), member=False)
        second = series[1]
        services.update_event(_db.session, second, services.EventDetails(
            title=second.title, status="published", online=True, presenters="Ann Other"),
            second.starts_at, second.ends_at)
        _db.session.commit()
    html = _main(client.get(f"/series/{slug}").get_data(as_text=True))
    assert "Marx Memorial Library, 37a Clerkenwell Green, London" in html
    assert ", Online, with Ann Other" in html


def _series_obj(slug):
    import sqlalchemy as sa

    from coop.events.models import Series

    return _db.session.scalar(sa.select(Series).where(Series.slug == slug))


def test_a_finished_series_says_it_has_ended_and_lists_its_sessions(client, app):
    slug = _series(app, first_date=dt.date(2022, 11, 9), online=True)
    html = _main(client.get(f"/series/{slug}").get_data(as_text=True))
    assert "This series has ended." in html
    assert "No session of this series is open" not in html
    assert "Register for the whole series" not in html and "<form" not in html
    assert html.count("Wednesday 9 November 2022") == 1
    assert "Wednesday 16 November 2022" in html and "Wednesday 23 November 2022" in html
    assert 'href="/series"' in html


def test_series_index_lists_current_and_past_series(client, app):
    past = _series(app, first_date=dt.date(2022, 11, 9), title="Science for the Future")
    current = _series(app, first_date=dt.date.today() + dt.timedelta(days=3), count=2,
                      title="Reading Marx")
    _series(app, first_date=dt.date.today() + dt.timedelta(days=3), count=2,
            title="Members' circle", visibility="members")
    _series(app, first_date=dt.date.today() + dt.timedelta(days=3), count=2,
            title="Draft thoughts", status="draft")
    html = _main(client.get("/series").get_data(as_text=True))
    assert html.index(f'href="/series/{current}"') < html.index("Past series") \
        < html.index(f'href="/series/{past}"')
    assert "Members&#39; circle" not in html and "Draft thoughts" not in html
    assert "3 sessions: " in html
    # findable from the listings
    assert 'href="/series"' in client.get("/events").get_data(as_text=True)
    assert 'href="/series"' in client.get("/events/past").get_data(as_text=True)


def test_the_seeds_past_series_is_on_the_series_index(client, app):
    with app.app_context():
        seed.load(_db.session, load_seed_file("events"), dt.date.today())
        _db.session.commit()
    html = _main(client.get("/series").get_data(as_text=True))
    past = html[html.index("Past series"):]
    assert 'href="/series/science-for-the-future"' in past
    assert "Marx Memorial Library" in past


# --- the waiting list ------------------------------------------------------------------------

def test_someone_waiting_is_told_their_place_in_line_everywhere(app, make_event, outbox):
    event = make_event("Small room", capacity=1, venue="Room 1")
    app.test_client().post(f"/events/{event.slug}/register",
                           data={"name": "A", "email": "a@example.org"})
    app.test_client().post(f"/events/{event.slug}/register",
                           data={"name": "B", "email": "b@example.org"})
    client = app.test_client()
    response = client.post(f"/events/{event.slug}/register",
                           data={"name": "C", "email": "c@example.org"})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "you&#39;re on the waiting list, number 2 in line" in page
    message = outbox()[-1]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "on the waiting list: number 2 in line" in text
    link = re.search(r"See or cancel this registration: http://127.0.0.1:5000(\S+)", text)[1]
    manage = client.get(link).get_data(as_text=True)
    assert "number 2 in line" in manage
    assert "Cancelling frees your place" not in manage
    assert "Cancelling takes you off the waiting list" in manage
    assert "Leave the waiting list" in manage
    # a registrant with a place is still told that cancelling frees it
    first = outbox()[0].get_body(preferencelist=("plain",)).get_content()
    first_link = re.search(r"registration: http://127.0.0.1:5000(\S+)", first)[1]
    assert "Cancelling frees your place" in client.get(first_link).get_data(as_text=True)


def test_a_member_waiting_sees_their_position_on_the_event_page(client, app, make_event,
                                                                 make_user):
    event = make_event("Tiny room", capacity=1)
    app.test_client().post(f"/events/{event.slug}/register",
                           data={"name": "A", "email": "a@example.org"})
    login(client, make_user().email)
    client.post(f"/events/{event.slug}/register", data={})
    html = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert "You're on the waiting list, number 1 in line." in html


def test_an_address_already_waiting_gets_a_new_registrations_answer(app, make_event):
    event = make_event("Full talk", capacity=1)
    app.test_client().post(f"/events/{event.slug}/register",
                           data={"name": "A", "email": "a@example.org"})
    app.test_client().post(f"/events/{event.slug}/register",
                           data={"name": "B", "email": "b@example.org"})  # number 1
    client = app.test_client()
    response = client.post(f"/events/{event.slug}/register",
                           data={"name": "Nosy", "email": "b@example.org"})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "number 2 in line" in page  # what a new address would be told


# --- members-only links ----------------------------------------------------------------------

def test_members_only_link_asks_to_log_in_and_comes_back(client, make_event, make_user):
    event = make_event("Members' briefing", visibility="members")
    refused = client.get(f"/events/{event.slug}")
    assert refused.status_code == 403
    html = refused.get_data(as_text=True)
    assert "<h1>Log in to see this</h1>" in html
    login_url = re.search(r'href="(/login\?next=[^"]+)"', html)[1]
    assert client.get(login_url).status_code == 200
    response = login(client, make_user().email, next=f"/events/{event.slug}")
    assert response.headers["Location"] == f"/events/{event.slug}"
    assert "Members&#39; briefing" in client.get(f"/events/{event.slug}").get_data(as_text=True)


def test_drafts_and_unknown_addresses_stay_404(client, make_event):
    draft = make_event("Secret plan", status="draft", visibility="members")
    assert client.get(f"/events/{draft.slug}").status_code == 404
    assert client.get("/events/no-such-event").status_code == 404
    assert client.get("/events/" + "x" * 300).status_code == 404


# --- JSON-LD ---------------------------------------------------------------------------------

def test_json_ld_in_person_event_has_offer_image_and_postal_address(client, make_event):
    event = make_event("Readers' meeting", venue="Marx Memorial Library",
                       address="37a Clerkenwell Green, London EC1R 0DU", capacity=40,
                       presenters=PRESENTERS, partner="Marx Memorial Library")
    data = _json_ld(client.get(f"/events/{event.slug}").get_data(as_text=True))
    assert data["offers"] == {
        "@type": "Offer", "price": 0, "priceCurrency": "GBP",
        "availability": "https://schema.org/InStock",
        "url": f"http://127.0.0.1:5000/events/{event.slug}",
        "validFrom": data["offers"]["validFrom"]}
    assert dt.datetime.fromisoformat(data["offers"]["validFrom"]).tzinfo is not None
    [image] = data["image"]
    assert image == "http://127.0.0.1:5000/static/events/event.png"
    with client.get("/static/events/event.png") as picture:
        assert picture.status_code == 200 and picture.data[:4] == b"\x89PNG"
    assert data["location"] == {
        "@type": "Place", "name": "Marx Memorial Library",
        "address": {"@type": "PostalAddress", "streetAddress": "37a Clerkenwell Green",
                    "addressLocality": "London", "postalCode": "EC1R 0DU",
                    "addressCountry": "GB"}}
    assert data["eventAttendanceMode"] == "https://schema.org/OfflineEventAttendanceMode"
    assert data["eventStatus"] == "https://schema.org/EventScheduled"
    assert data["organizer"]["@type"] == "Organization" and data["organizer"]["url"]
    assert data["performer"] == [{"@type": "Person", "name": n} for n in
                                 ("Rox Middleton", "Liam Shaw", "Joel Hellewell")]


def test_json_ld_online_full_and_hybrid_events(client, app, make_event):
    online = make_event("Online talk", online=True, joining_url="https://meet.example.org/o")
    data = _json_ld(client.get(f"/events/{online.slug}").get_data(as_text=True))
    assert data["location"] == {"@type": "VirtualLocation",
                                "url": f"http://127.0.0.1:5000/events/{online.slug}"}
    assert data["eventAttendanceMode"].endswith("OnlineEventAttendanceMode")
    assert data["offers"]["price"] == 0

    full = make_event("Full room", capacity=1, venue="Room", address="Glasgow")
    app.test_client().post(f"/events/{full.slug}/register",
                           data={"name": "A", "email": "a@example.org"})
    data = _json_ld(client.get(f"/events/{full.slug}").get_data(as_text=True))
    assert data["offers"]["availability"] == "https://schema.org/SoldOut"
    assert data["location"]["address"] == {"@type": "PostalAddress",
                                           "addressLocality": "Glasgow",
                                           "addressCountry": "GB"}

    hybrid = make_event("Both ways", online=True, joining_url="https://meet.example.org/h",
                        joining_url_public=True, venue="Hall", address="1 High St, Leeds")
    html = client.get(f"/events/{hybrid.slug}").get_data(as_text=True)
    data = _json_ld(html)
    assert data["eventAttendanceMode"].endswith("MixedEventAttendanceMode")
    place, virtual = data["location"]
    assert place["@type"] == "Place" and place["address"]["addressLocality"] == "Leeds"
    assert virtual == {"@type": "VirtualLocation", "url": "https://meet.example.org/h"}
    assert "Online and at Hall, 1 High St, Leeds" in html


def test_json_ld_cancelled_event(client, app, make_event):
    event = make_event("Called off")
    with app.app_context():
        from coop.events.models import Event

        services.cancel_event(_db.session, _db.session.get(Event, event.id))
        _db.session.commit()
    data = _json_ld(client.get(f"/events/{event.slug}").get_data(as_text=True))
    assert data["eventStatus"] == "https://schema.org/EventCancelled"
    assert data["offers"]["availability"] == "https://schema.org/Discontinued"


def test_series_page_json_ld_has_every_session_complete(client, app):
    slug = _series(app, first_date=dt.date.today() + dt.timedelta(days=7), online=True)
    data = _json_ld(client.get(f"/series/{slug}").get_data(as_text=True))
    assert len(data) == 3
    assert all(d["offers"]["price"] == 0 and d["image"] for d in data)


@pytest.mark.parametrize(("line", "expected"), [
    ("37a Clerkenwell Green, London EC1R 0DU",
     {"streetAddress": "37a Clerkenwell Green", "addressLocality": "London",
      "postalCode": "EC1R 0DU"}),
    ("Community Hall, 12 Main Street, Glasgow, g23ab",
     {"streetAddress": "Community Hall, 12 Main Street", "addressLocality": "Glasgow",
      "postalCode": "G2 3AB"}),
    ("Glasgow", {"addressLocality": "Glasgow"}),
    ("12 Main Street", {"streetAddress": "12 Main Street"}),
    ("SW1A 1AA", {"postalCode": "SW1A 1AA"}),
])
def test_postal_address_best_effort(line, expected):
    assert display.postal_address(line) == {"@type": "PostalAddress", "addressCountry": "GB",
                                            **expected}


def test_presenter_names_and_link_text():
    assert display.presenter_names(PRESENTERS) == ["Rox Middleton", "Liam Shaw",
                                                   "Joel Hellewell"]
    assert display.presenter_names("Ann & Bob") == ["Ann", "Bob"]
    assert display.link_text("https://www.example.org/a/b?c") == "example.org"
    assert display.link_text("https://meet.example.org/x") == "meet.example.org"


def test_event_page_links_have_text_not_urls(client, make_event):
    event = make_event("Linked", details_url="https://www.example.org/details",
                       online=True, joining_url="https://meet.example.org/j",
                       joining_url_public=True, starts_at=future(5))
    html = _main(client.get(f"/events/{event.slug}").get_data(as_text=True))
    assert ">example.org</a>" in html and "Join online (meet.example.org)" in html
    assert ">https://" not in html
