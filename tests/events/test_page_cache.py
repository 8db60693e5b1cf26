"""The whole-page cache for anonymous readers (coop/pagecache.py), on /events and /fund: who is
served from it, that each reader still gets a CSRF token of their own that works, and when kept
pages are dropped."""

from __future__ import annotations

import re

import pytest

from coop import pagecache
from tests.conftest import PASSWORD, login
from tests.events.conftest import future

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                   r'name="csrf_token" value="([^"]+)"')


def tokens(html: str) -> set[str]:
    return {a or b for a, b in TOKEN.findall(html)}


@pytest.fixture
def cached_app(make_app):
    app = make_app(WTF_CSRF_ENABLED=True, PAGE_CACHE_SECONDS=60)
    calls = []
    inner = app.wsgi_app.wsgi_app

    def counting(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    app.wsgi_app.wsgi_app = counting
    app.flask_calls = calls
    return app


def signup(client, token: str, email: str = "reader@example.org"):
    return client.post("/newsletter", data={
        "csrf_token": token, "email": email, "topics": ["events"], "consent": "y"})


def test_second_reader_is_served_from_the_cache_with_a_token_of_their_own(cached_app):
    first, second = cached_app.test_client(), cached_app.test_client()
    one = first.get("/events")
    two = second.get("/events")
    assert one.status_code == two.status_code == 200
    assert cached_app.flask_calls == ["/events"], "the second reader went through Flask"

    (token_one,), (token_two,) = tokens(one.get_data(as_text=True)), tokens(
        two.get_data(as_text=True))
    assert token_one != token_two
    assert one.get_data(as_text=True).replace(token_one, "") == two.get_data(
        as_text=True).replace(token_two, "")
    assert int(two.headers["Content-Length"]) == len(two.get_data())
    cookie_one = one.headers["Set-Cookie"]
    cookie_two = two.headers["Set-Cookie"]
    assert cookie_one.split(";")[0] != cookie_two.split(";")[0]
    assert cookie_one.split(";")[1:] == cookie_two.split(";")[1:], "cookie attributes differ"
    ignore = {"Set-Cookie", "Content-Length"}
    assert [(n, v) for n, v in one.headers if n not in ignore] == [
        (n, v) for n, v in two.headers if n not in ignore]
    assert pagecache.MARKER not in one.headers and pagecache.MARKER not in two.headers

    # another reader's token is refused; the reader's own is accepted
    assert signup(second, token_one).status_code == 400
    assert signup(second, token_two).status_code == 302


def test_returning_reader_keeps_their_session_and_token(cached_app):
    reader = cached_app.test_client()
    reader.get("/events")
    again = reader.get("/events")
    assert cached_app.flask_calls == ["/events"]
    assert "Set-Cookie" not in again.headers
    (token,) = tokens(again.get_data(as_text=True))
    assert signup(reader, token).status_code == 302


def test_logged_in_members_go_through_flask_and_see_members_events(cached_app, make_event,
                                                                   make_user):
    make_event("Members evening", visibility="members", starts_at=future(5))
    anonymous = cached_app.test_client()
    assert "Members evening" not in anonymous.get("/events").get_data(as_text=True)

    member = cached_app.test_client()
    make_user("member", email="m@example.org")
    page = member.get("/login").get_data(as_text=True)
    (token,) = tokens(page)
    assert login(member, "m@example.org", PASSWORD, csrf_token=token).status_code == 302
    calls = len(cached_app.flask_calls)
    assert "Members evening" in member.get("/events").get_data(as_text=True)
    assert len(cached_app.flask_calls) == calls + 1
    assert "Members evening" not in anonymous.get("/events").get_data(as_text=True)
    assert "Members evening" not in cached_app.test_client().get("/events").get_data(
        as_text=True)


def test_a_commit_drops_kept_pages(cached_app, make_event):
    reader = cached_app.test_client()
    assert "Brand new talk" not in reader.get("/events").get_data(as_text=True)
    make_event("Brand new talk", starts_at=future(3))
    assert "Brand new talk" in cached_app.test_client().get("/events").get_data(as_text=True)
    assert cached_app.flask_calls == ["/events", "/events"]


def test_kept_pages_expire(cached_app, monkeypatch):
    cached_app.test_client().get("/fund")
    cached_app.test_client().get("/fund")
    assert cached_app.flask_calls == ["/fund"]
    later = pagecache.time.monotonic() + 61
    monkeypatch.setattr(pagecache.time, "monotonic", lambda: later)
    cached_app.test_client().get("/fund")
    assert cached_app.flask_calls == ["/fund", "/fund"]


@pytest.mark.parametrize("how", ["other cookie", "tampered session", "authorization", "head",
                                 "query"])
def test_anything_unusual_goes_through_flask(cached_app, how):
    cached_app.test_client().get("/events")
    reader = cached_app.test_client()
    if how == "other cookie":
        reader.set_cookie("dismissed_notices", "1.abc")
        response = reader.get("/events")
    elif how == "tampered session":
        reader.set_cookie("session", "eyJjc3JmX3Rva2VuIjoiYSJ9.forged.signature")
        response = reader.get("/events")
    elif how == "authorization":
        response = reader.get("/events", headers={"Authorization": "Bearer x"})
    elif how == "head":
        response = reader.head("/events")
    else:
        response = reader.get("/events?mode=online")
    assert response.status_code == 200
    assert len(cached_app.flask_calls) == 2, how


def test_only_views_that_opt_in_are_kept(cached_app):
    reader = cached_app.test_client()
    for path in ("/shares", "/shares", "/no-such-page", "/no-such-page", "/newsletter",
                 "/newsletter"):
        reader.get(path)
    assert cached_app.flask_calls == ["/shares", "/shares", "/no-such-page", "/no-such-page",
                                      "/newsletter", "/newsletter"]


def test_the_home_page_is_served_from_the_cache_only_while_the_database_answers(cached_app):
    import sqlalchemy as sa

    cached_app.test_client().get("/")
    assert cached_app.test_client().get("/").status_code == 200
    assert cached_app.flask_calls == ["/"]
    # a database that can't be reached: the kept page is not used, Flask answers (and with
    # the real database down that answer is the 503 page: tests/faults)
    cached_app.wsgi_app._engine = sa.create_engine("sqlite:////nonexistent-dir/coop.sqlite3")
    assert cached_app.test_client().get("/").status_code == 200
    assert cached_app.flask_calls == ["/", "/"]


def test_zero_seconds_turns_it_off(make_app):
    app = make_app(PAGE_CACHE_SECONDS=0)
    client = app.test_client()
    client.get("/events")
    assert app.wsgi_app.kept == {}
