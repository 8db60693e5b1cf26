"""The banner on every page, dismissing it without JavaScript, and the staff pages."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from coop.audit import AuditEvent
from coop.db import now_utc
from coop.notices.models import Notice

TEXT = ("Due to continuing global pandemic conditions, shipments to some countries may be "
        "interrupted.")


@pytest.fixture
def notice(app):
    from coop.extensions import db
    from coop.notices import services

    with app.app_context():
        created = services.create(db.session, services.NoticeData(
            text=TEXT, level="warning", starts_at=now_utc() - dt.timedelta(hours=1),
            ends_at=None, link_url="/shares", link_text="Details"), by=None)
        db.session.commit()
        return created.id


def test_banner_on_pages_with_role_status(client, notice):
    for path in ("/", "/newsletter", "/login", "/no-such-page"):
        html = client.get(path).get_data(as_text=True)
        assert TEXT in html, path
        assert 'role="status"' in html
        assert f'action="/notices/{notice}/dismiss"' in html
    assert '<a href="/shares">Details</a>' in client.get("/").get_data(as_text=True)


def test_banner_markdown_is_safe(app, client):
    from coop.extensions import db
    from coop.notices import services

    with app.app_context():
        services.create(db.session, services.NoticeData(
            text="<script>alert(1)</script> **bold** [x](javascript:alert(1))", level="info",
            starts_at=now_utc() - dt.timedelta(minutes=1)), by=None)
        db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "<strong>bold</strong>" in html
    assert 'href="javascript:' not in html


def test_dismiss_sets_cookie_and_returns_to_the_page(client, notice):
    response = client.post(f"/notices/{notice}/dismiss", data={"next": "/newsletter?x=1"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/newsletter?x=1"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"dismissed_notices={notice}.1") or f'"{notice}.1"' in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert TEXT not in client.get("/").get_data(as_text=True)


def test_dismiss_comes_back_to_the_page_with_its_query(client, notice):
    """The banner's form names only the page's path (pages are kept whole for every reader,
    whatever their query string): the Referer brings back ?page=2 or a staff filter (QA)."""
    page = "http://localhost/events?page=2"
    response = client.post(f"/notices/{notice}/dismiss", data={"next": "/events"},
                           headers={"Referer": page})
    assert response.headers["Location"] == "/events?page=2"
    # another page's, or another site's, query is not taken
    for referer in ("http://localhost/fund?x=1", "http://evil.example/events?page=2"):
        response = client.post(f"/notices/{notice}/dismiss", data={"next": "/events"},
                               headers={"Referer": referer})
        assert response.headers["Location"] == "/events", referer


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil", ""])
def test_dismiss_redirects_only_locally(client, notice, target):
    response = client.post(f"/notices/{notice}/dismiss", data={"next": target})
    assert response.headers["Location"] == "/"


def test_dismiss_unknown_notice_is_404(client):
    assert client.post("/notices/999/dismiss").status_code == 404


def test_dismiss_refuses_posts_from_other_sites(make_app, notice):
    """The banner is on pages kept whole for every reader, so Dismiss carries no CSRF token:
    a post another site's page makes is refused by its Origin or Sec-Fetch-Site instead."""
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    url = f"/notices/{notice}/dismiss"
    assert client.post(url, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post(url, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.post(url, headers={"Origin": "null"}).status_code == 403
    same = client.post(url, data={"next": "/fund"}, headers={
        "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 302 and same.headers["Location"] == "/fund"
    assert "dismissed_notices=" in same.headers["Set-Cookie"]


def test_changed_notice_shows_again(app, client, login_as, notice):
    client.post(f"/notices/{notice}/dismiss", data={"next": "/"})
    assert TEXT not in client.get("/").get_data(as_text=True)
    login_as("staff")
    start = (now_utc() - dt.timedelta(hours=1)).astimezone(dt.UTC)
    from coop.notices.services import utc_to_london

    response = client.post(f"/staff/notices/{notice}/edit", data={
        "text": TEXT + " Updated.", "level": "warning",
        "starts_at": utc_to_london(start).strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    assert TEXT + " Updated." in client.get("/").get_data(as_text=True)


def test_new_notice_shows_even_after_dismissing_another(app, client, notice):
    from coop.extensions import db
    from coop.notices import services

    client.post(f"/notices/{notice}/dismiss", data={"next": "/"})
    with app.app_context():
        services.create(db.session, services.NoticeData(
            text="Another one", level="info", starts_at=now_utc() - dt.timedelta(minutes=1)),
            by=None)
        db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "Another one" in html and TEXT not in html


def test_ended_notice_disappears(app, client, login_as, notice):
    login_as("staff")
    assert client.post(f"/staff/notices/{notice}/end").status_code == 302
    assert TEXT not in client.get("/").get_data(as_text=True)
    with app.app_context():
        from coop.extensions import db

        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
        assert "notice.created" in actions and "notice.ended" in actions


def test_staff_create_with_london_times(app, client, login_as):
    login_as("staff")
    page = client.get("/staff/notices/new")
    assert page.status_code == 200 and 'type="datetime-local"' in page.get_data(as_text=True)
    response = client.post("/staff/notices/new", data={
        "text": "Summer notice", "level": "info",
        "starts_at": "2026-07-01T09:00", "ends_at": "2026-07-02T18:30"})
    assert response.status_code == 302
    with app.app_context():
        from coop.extensions import db

        notice = db.session.scalar(sa.select(Notice))
        assert notice.starts_at == dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.UTC)
        assert notice.ends_at == dt.datetime(2026, 7, 2, 17, 30, tzinfo=dt.UTC)
    listing = client.get("/staff/notices").get_data(as_text=True)
    assert "1 Jul 2026, 09:00" in listing


@pytest.mark.parametrize("fields, message", [
    ({"starts_at": "2026-07-02T09:00", "ends_at": "2026-07-01T09:00"},
     "The end must be after the start."),
    ({"starts_at": "2026-07-01T09:00", "ends_at": "2026-07-01T09:00"},
     "The end must be after the start."),
    ({"starts_at": "2026-03-29T01:30"}, "doesn&#39;t exist in London"),
    ({"starts_at": "yesterday"}, "Enter a date and time, like 31/12/2026 19:00."),
    ({"starts_at": ""}, "Enter when the notice starts."),
    ({"starts_at": "2026-07-01T09:00", "link_url": "javascript:alert(1)"}, "https://"),
    ({"starts_at": "2026-07-01T09:00", "link_url": "//evil.example"}, "https://"),
    ({"starts_at": "2026-07-01T09:00", "link_text": "Read"}, "Add the link address too"),
    ({"starts_at": "2026-07-01T09:00", "text": "x" * 501}, "Keep it to 500 characters."),
    ({"starts_at": "2026-07-01T09:00", "text": ""}, "Enter the notice text."),
    ({"starts_at": "2026-07-01T09:00", "level": "shouting"}, "Choose one of the options"),
])
def test_staff_form_errors_never_500(app, client, login_as, fields, message):
    login_as("staff")
    form = {"text": "Hello", "level": "info", **fields}
    response = client.post("/staff/notices/new", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        from coop.extensions import db

        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notice)) == 0


@pytest.mark.own_app  # adds a route, which can't be taken off the worker's shared app
def test_banner_skipped_when_database_is_down(make_app, notice):
    """The 503 page renders without the banner or footer form (no further queries)."""
    app = make_app()

    @app.route("/boom")
    def boom():
        from sqlalchemy.exc import OperationalError

        raise OperationalError("SELECT 1", {}, Exception("down"))

    boom.access_level = "public"
    response = app.test_client().get("/boom")
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert TEXT not in html and 'id="footer-email"' not in html


def test_members_cannot_reach_staff_notices(client, login_as):
    login_as("member")
    assert client.get("/staff/notices").status_code == 403
    assert client.post("/staff/notices/new", data={}).status_code == 403


def test_database_lost_while_reading_notices_gives_the_503_page(app, client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from coop.notices import services

    def down(*_args, **_kwargs):
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(services, "current_banners", down)
    response = client.get("/newsletter")
    assert response.status_code == 503
    assert "Temporarily unavailable" in response.get_data(as_text=True)
    # an error page being shown anyway goes without the banner rather than failing
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert "Page not found" in missing.get_data(as_text=True)


def test_other_database_errors_only_leave_the_banner_out(app, client, monkeypatch):
    from sqlalchemy.exc import ProgrammingError

    from coop.notices import services

    def broken(*_args, **_kwargs):
        raise ProgrammingError("SELECT", {}, Exception("no such column"))

    monkeypatch.setattr(services, "current_banners", broken)
    response = client.get("/newsletter")
    assert response.status_code == 200
    assert 'class="site-notices"' not in response.get_data(as_text=True)


def test_a_notice_saved_already_over_is_pointed_out(app, client, login_as):
    login_as("staff")
    response = client.post("/staff/notices/new", data={
        "text": "Last summer", "level": "info",
        "starts_at": "2026-07-01T09:00", "ends_at": "2026-07-02T18:30"}, follow_redirects=True)
    assert "It has already ended, so nobody sees it" in response.get_data(as_text=True)
    response = client.post("/staff/notices/new", data={
        "text": "Next week", "level": "info", "starts_at": "2026-07-01T09:00",
        "ends_at": "2099-07-02T18:30"}, follow_redirects=True)
    assert "already ended" not in response.get_data(as_text=True)
