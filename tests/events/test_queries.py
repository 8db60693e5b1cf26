"""/events runs a constant number of SQL queries per page, whatever the page size."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from coop.events.models import Event, EventTag, Registration, Series
from coop.extensions import db as _db
from tests.conftest import login

pytestmark = pytest.mark.slow


def bulk_insert_events(app, n: int) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with app.app_context():
        series = Series(slug="big-series", title="A big series")
        _db.session.add(series)
        _db.session.flush()
        rows = [
            {"slug": f"event-{i}", "title": f"Event {i}", "summary": "", "description": "",
             "starts_at": now + dt.timedelta(hours=i + 1),
             "ends_at": now + dt.timedelta(hours=i + 2), "online": i % 2 == 0,
             "joining_url": "", "joining_url_public": False, "venue": "Hall", "address": "",
             "details_url": "", "presenters": "", "partner": "", "capacity": 10,
             "visibility": "public", "status": "published", "sequence": 0,
             "series_id": series.id if i % 3 == 0 else None,
             "published_at": now, "created_at": now, "updated_at": now}
            for i in range(n)
        ]
        _db.session.execute(sa.insert(Event), rows)
        ids = _db.session.scalars(sa.select(Event.id).order_by(Event.id).limit(200)).all()
        _db.session.execute(sa.insert(EventTag), [
            {"event_id": i, "tag": tag} for i in ids for tag in ("science", "history")])
        _db.session.execute(sa.insert(Registration), [
            {"event_id": i, "name": "P", "email": f"p{i}@example.org", "status": "registered",
             "token": f"token-{i}", "queued_at": now, "created_at": now} for i in ids])
        _db.session.commit()
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == n
        # rows inserted without their length get it from the column's default
        assert set(_db.session.scalars(sa.select(Event.duration_seconds))) == {3600}


def count_queries(app, client, url: str) -> tuple[int, str]:
    statements: list[str] = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = _db.engine
    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        response = client.get(url)
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    assert response.status_code == 200
    return len(statements), response.get_data(as_text=True)


def test_listing_queries_do_not_grow_with_page_size(make_app):
    counts = {}
    small = make_app(EVENTS_PER_PAGE=10, CACHE_RESPONSES=False)  # through Flask
    bulk_insert_events(small, 10_000)
    big = make_app(EVENTS_PER_PAGE=50, CACHE_RESPONSES=False)
    for size, app in ((10, small), (50, big)):
        # kept values (the longest event's length) don't expire between warm-up and count
        app.extensions["coop.cache"].clock = lambda: 1000.0
        client = app.test_client()
        client.get("/events")  # warm up
        counts[size], html = count_queries(app, client, "/events")
        assert html.count('class="event-card') == size
        assert "Page 1</span>" in html and 'rel="next"' in html
        counts[f"{size}-p3"], _ = count_queries(app, client, "/events?page=3&tag=science")
    assert counts[10] == counts[50], counts
    assert counts["10-p3"] == counts["50-p3"], counts
    assert counts[10] <= 12, counts


def test_the_cache_serves_repeats_without_queries_and_clears_on_change(make_app, make_user):
    from coop.events import services

    app = make_app()
    app.extensions["coop.cache"].clock = lambda: 1000.0  # no expiry on a slow machine
    bulk_insert_events(app, 30)
    client = app.test_client()
    first, html = count_queries(app, client, "/events")
    again, html_again = count_queries(app, client, "/events")
    assert first > 0 and again == 0 and html_again == html
    # a change committed in this process shows at once, though the entry is still fresh
    with app.app_context():
        event = _db.session.scalar(sa.select(Event).where(Event.slug == "event-0"))
        services.update_event(_db.session, event, services.EventDetails(
            title="Renamed at once", status="published", venue="Hall", capacity=10),
            event.starts_at, event.ends_at)
        _db.session.commit()
    assert "Renamed at once" in client.get("/events").get_data(as_text=True)
    # registrations change the places left, so they clear it too
    app.test_client().post("/events/event-1/register",
                           data={"name": "A", "email": "a@example.org"})
    assert "8 places left" in client.get("/events").get_data(as_text=True)
    # members and anonymous visitors never share an entry
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)  # first on the page
    with app.app_context():
        services.create_event(_db.session, services.EventDetails(
            title="Members-only soon", status="published", visibility="members"),
            soon, soon + dt.timedelta(hours=1))
        _db.session.commit()
    assert "Members-only soon" not in client.get("/events").get_data(as_text=True)
    login(client, make_user().email)
    assert "Members-only soon" in client.get("/events").get_data(as_text=True)
