"""The one cache (coop/cache.py): who is answered from it, what the key is, that a write drops
it at once in this process, the time bound everywhere else, LRU eviction, and the values kept
under the same rule."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from coop import cache
from coop.extensions import db as _db
from coop.fund import services as fund
from coop.fund.models import Campaign
from tests.conftest import login
from tests.events import conftest as events_fixtures
from tests.fund import conftest as fund_fixtures
from tests.fund.conftest import london_today

# the features' fixtures, used here too
make_event = events_fixtures.make_event
make_campaign, campaign_id = fund_fixtures.make_campaign, fund_fixtures.campaign_id

PAGES = ("/", "/fund", "/events", "/events/past", "/fund/archive", "/fund/this-month",
         "/api/fund", "/api/fund/this-month", "/fund/widget", "/fund/badge.svg",
         # the calendar, the feed and the API's document said max-age=300 of their own
         "/events.ics", "/events.atom", "/api/openapi.json")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def counted(make_app, campaign_id):
    """An app whose cache clock stands still, counting the requests Flask itself handled
    (Flask's ``request_started`` signal, listened to for this test only: the app may be the
    worker's shared one, which takes no new ``before_request`` function)."""
    from flask import request, request_started

    app = make_app()
    clock = Clock()
    app.extensions["coop.cache"].clock = clock
    calls: list[str] = []

    def count(sender, **extra):
        calls.append(request.path)

    app.calls, app.clock = calls, clock
    with request_started.connected_to(count, app):
        yield app


def _add(app, campaign_id, pence):
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        fund.add_entry(_db.session, campaign, pence, received_on=london_today(), source="post")
        _db.session.commit()


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_readers_get_the_same_bytes_from_the_cache(counted, url):
    first = counted.test_client().get(url)
    second = counted.test_client().get(url)
    assert first.status_code == second.status_code == 200
    assert counted.calls == [url], "the second reader went through Flask"
    assert second.data == first.data
    assert sorted(second.headers.items()) == sorted(first.headers.items())
    assert first.headers["Cache-Control"] == "public, max-age=2, s-maxage=2"
    assert "Set-Cookie" not in first.headers
    assert 'name="csrf_token"' not in first.get_data(as_text=True)
    not_modified = counted.test_client().get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert not_modified.headers["ETag"] == first.headers["ETag"]
    assert "Content-Security-Policy" in not_modified.headers
    weak = counted.test_client().get(
        url, headers={"If-None-Match": f'"x", W/{first.headers["ETag"]}'})
    assert weak.status_code == 304
    assert counted.calls == [url]


@pytest.mark.parametrize("url", ["/api/fund", "/fund", "/fund/widget", "/fund/badge.svg", "/"])
def test_a_write_in_this_process_is_seen_at_once(counted, campaign_id, url):
    before = counted.test_client().get(url)
    _add(counted, campaign_id, 1234)
    after = counted.test_client().get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.data != before.data
    assert after.headers["ETag"] != before.headers["ETag"]
    assert b"1234" in after.data or b"12.34" in after.data
    assert counted.calls == [url, url]


def test_a_core_write_outside_any_session_drops_the_cache_too(counted, campaign_id):
    counted.test_client().get("/api/fund")
    with counted.app_context(), _db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE fund_campaigns SET name = 'Renamed' WHERE id = :id"),
                     {"id": campaign_id})
    assert counted.test_client().get("/api/fund").get_json()["name"] == "Renamed"


def test_elsewhere_kept_things_live_at_most_the_bound(counted, campaign_id):
    counted.test_client().get("/fund")
    counted.clock.now += 1.9
    counted.test_client().get("/fund")
    assert counted.calls == ["/fund"]
    counted.clock.now += 0.2  # 2.1 s after it was made
    counted.test_client().get("/fund")
    assert counted.calls == ["/fund", "/fund"]


def test_the_key_is_the_path_and_the_declared_parameters_only(counted, make_event):
    from tests.events.conftest import future

    make_event("Online talk", starts_at=future(3), online=True)
    make_event("Hall talk", starts_at=future(4), venue="The Hall")
    client = counted.test_client()
    base = client.get("/events").get_data(as_text=True)
    for junk in ("?x=1", "?x=2", "?utm_source=a&x=3", "?"):
        assert client.get("/events" + junk).get_data(as_text=True) == base
    assert counted.calls == ["/events"], "undeclared parameters made new entries"
    online = client.get("/events?mode=online").get_data(as_text=True)
    assert "Online talk" in online and "Hall talk" not in online
    assert counted.calls == ["/events", "/events"]
    client.get("/events?mode=online&junk=1")
    assert len(counted.calls) == 2
    # the Host header is not part of the key: links in kept pages don't depend on it
    other = client.get("/events", base_url="http://b.example").get_data(as_text=True)
    assert other == base and len(counted.calls) == 2
    widget = client.get("/fund/widget", base_url="http://a.example").get_data(as_text=True)
    assert 'href="/fund" target="_blank"' in widget


def test_a_nul_in_an_ignored_parameter_is_still_refused(counted):
    counted.test_client().get("/events")
    response = counted.test_client().get("/events?x=a%00b")
    assert response.status_code == 400  # (refused before the counting hook runs)


@pytest.mark.parametrize("how", ["cookie", "authorization", "head", "post"])
def test_anything_but_a_plain_anonymous_get_goes_through_flask(counted, how):
    counted.test_client().get("/events")
    reader = counted.test_client()
    if how == "cookie":
        reader.set_cookie("dismissed_notices", "1.1")
        response = reader.get("/events")
    elif how == "authorization":
        response = reader.get("/events", headers={"Authorization": "Bearer x"})
    elif how == "head":
        response = reader.head("/events")
    else:
        response = reader.post("/events")
    assert response.status_code in (200, 405)
    assert len(counted.calls) == 2, how


def test_members_go_through_flask_and_their_pages_are_never_kept(counted, make_user,
                                                                  make_event):
    from tests.events.conftest import future

    evening = make_event("Members evening", visibility="members", starts_at=future(5))
    member = counted.test_client()
    user = make_user("member", email="m@example.org")
    assert login(member, user.email).status_code == 302
    page = member.get("/events")
    assert "Members evening" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    calendar = member.get(f"/events/{evening.slug}.ics")
    assert "Members evening" in calendar.get_data(as_text=True)
    assert calendar.headers["Cache-Control"] == "no-store"
    for _ in range(2):
        assert "Members evening" not in counted.test_client().get("/events").get_data(
            as_text=True)
        assert counted.test_client().get(f"/events/{evening.slug}.ics").status_code == 404


def test_only_views_that_declare_it_are_kept_and_only_their_200s(counted):
    client = counted.test_client()
    for path in ("/shares", "/shares", "/no-such-page", "/no-such-page", "/newsletter",
                 "/newsletter", "/api/fund/nope", "/api/fund/nope"):
        client.get(path)
    assert len(counted.calls) == 8
    # the cache's public header is not given to a view that doesn't declare it (the form
    # page says no-store itself: each drawing has its own submission key)
    assert client.get("/shares").headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in client.get("/newsletter").headers


def test_the_store_is_least_recently_used_and_bounded(make_app, campaign_id):
    app = make_app(CACHE_MAX_ENTRIES=2)
    kept = app.extensions["coop.cache"].responses
    client = app.test_client()
    client.get("/fund")
    client.get("/api/fund")
    client.get("/fund")  # used again: now the most recent
    client.get("/fund/widget")  # evicts /api/fund, the least recently used
    assert len(kept) == 2
    assert kept.get(("/fund",)) is not None and kept.get(("/api/fund",)) is None


def test_values_are_kept_under_the_same_rule(app):
    store = app.extensions["coop.cache"]
    clock = Clock()
    store.clock = clock
    loads = []
    with app.app_context():
        def load():
            loads.append(1)
            return len(loads)

        assert cache.memo("k", load) == 1
        assert cache.memo("k", load) == 1
        cache.invalidate()  # what a commit that wrote does
        assert cache.memo("k", load) == 2
        clock.now += 2.5
        assert cache.memo("k", load) == 3


def test_made_up_campaign_slugs_keep_nothing(counted, campaign_id):
    """Audit: a None was kept for every slug asked for, so requests for made-up ones pushed
    the real figures out of the bounded store."""
    values = counted.extensions["coop.cache"].values
    client = counted.test_client()
    client.get("/api/fund/this-month")
    before = len(values)
    for n in range(20):
        assert client.get(f"/api/fund/no-such-{n}").status_code == 404
    assert len(values) == before


def test_notices_are_read_from_the_cache_not_per_page(counted):
    with counted.app_context():
        engine = _db.engine
    reader = counted.test_client()
    reader.set_cookie("dismissed_notices", "0.0")  # through Flask every time
    reader.get("/shares")
    statements = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        reader.get("/shares")
        reader.get("/privacy")
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert len(counted.calls) == 3
    assert not [s for s in statements if "notices" in s]


def test_zero_seconds_turns_it_off(make_app, campaign_id):
    app = make_app(CACHE_SECONDS=0)
    calls = []
    app.before_request(lambda: calls.append(1))
    client = app.test_client()
    first = client.get("/fund")
    client.get("/fund")
    assert len(calls) == 2
    assert first.headers["Cache-Control"] == "public, max-age=0, s-maxage=0"
