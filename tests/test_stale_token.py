"""A form sent with a stale CSRF token is drawn again as typed (``redraws_on_stale_token``).

Each marked view is posted with otherwise good input and a token that no longer matches the
session (as after logging in in another tab): the answer is the form again, with what was
typed and the "check it and send it again" message, and nothing in the database or the
outbox changed. Sent again with the page's fresh token, the same input is saved, so it was
only the token that stopped it. Posts from another site, or with a good token but a bad
referrer over HTTPS, still get the 400 page.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import sqlalchemy as sa

from coop.extensions import db as _db
from coop.forms import CSRF_MESSAGE
from tests.conftest import PASSWORD
from tests.events.test_staff import event_form, series_form
from tests.records import enquiry, event, notice, series, series_id, snapshot
from tests.shares.conftest import share_form, support_form

MARK = "Quillon Marbury-Stalebread"
LONG_TEXT = f"{MARK}: a description written over half an hour, line after line."
#: a token of the right shape signed with another key
STALE = "IjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAi.aaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbb"


def _token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def _log_in(client, make_user, role: str) -> None:
    user = make_user(role)
    token = _token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                            "csrf_token": token})
    assert response.status_code == 302


def _member_of_register(app):
    """The logged-in member (the last account made) entered in the register."""
    from coop.accounts.models import User
    from coop.register import services

    with app.app_context():
        user = _db.session.scalar(sa.select(User).order_by(User.id.desc()))
        allotment = services.admit(_db.session, name="Stale Token", email=user.email,
                                   address="1 Road", shares=10, on=dt.date(2024, 5, 1),
                                   by=None, invite=False)
        services.link_account(_db.session, allotment.member, user, by=None)
        _db.session.commit()


#: endpoint -> (role or None, a function of the app giving the page that holds the
#: form, the address it posts to and what is typed into it)
CASES = {
    "shares.index": (None, lambda app: (
        "/shares", "/shares", share_form(name=MARK))),
    "shares.support": (None, lambda app: (
        "/support", "/support", support_form(name=MARK))),
    "newsletter.signup": (None, lambda app: (
        "/newsletter", "/newsletter", {"email": "reader@example.org", "name": MARK,
                                       "topics": ["events"], "consent": "y",
                                       "source": "page"})),
    "events.register": (None, lambda app: (
        lambda slug: (f"/events/{slug}", f"/events/{slug}/register",
                      {"name": MARK, "email": "ann@example.org"}))(
        event(app, "Stale token talk")[1])),
    "events.register_series": (None, lambda app: (
        lambda slug: (f"/series/{slug}", f"/series/{slug}/register",
                      {"name": MARK, "email": "ann@example.org"}))(series(app))),
    "events_staff.new_event": ("staff", lambda app: (
        "/staff/events/new", "/staff/events/new", event_form(description=LONG_TEXT))),
    "events_staff.edit_event": ("staff", lambda app: (
        lambda event_id: (f"/staff/events/{event_id}/edit", f"/staff/events/{event_id}/edit",
                          event_form(title="Stale token talk", description=LONG_TEXT)))(
        event(app, "Stale token talk")[0])),
    "events_staff.series": ("staff", lambda app: (
        lambda series_id: (f"/staff/events/series/{series_id}",
                           f"/staff/events/series/{series_id}",
                           {"title": "Stale token series", "summary": "Three seminars",
                            "description": LONG_TEXT}))(series_id(app))),
    "events_staff.new_series": ("staff", lambda app: (
        "/staff/events/series/new", "/staff/events/series/new",
        series_form(description=LONG_TEXT))),
    "events_staff.book": ("staff", lambda app: (
        lambda event_id: (f"/staff/events/{event_id}", f"/staff/events/{event_id}/bookings",
                          {"name": MARK, "email": "booked@example.org"}))(
        event(app, "Stale token booking")[0])),
    "events_staff.message": ("staff", lambda app: (
        lambda event_id: (f"/staff/events/{event_id}", f"/staff/events/{event_id}/message",
                          {"audience": "places", "subject": "Room change", "body": LONG_TEXT}))(
        event(app, "Stale token message", places=["ann@example.org"])[0])),
    "shares_staff.contact": ("staff", lambda app: (
        lambda enquiry_id: (f"/staff/enquiries/{enquiry_id}/contact",
                            f"/staff/enquiries/{enquiry_id}/contact",
                            {"name": "Ada Lovelace", "email": "ada@example.org",
                             "address": "1 Fleet Street\nLondon", "postcode": "EC4Y 1AA",
                             "country": "GB", "phone": "020 7946 0000", "reason": MARK}))(
        enquiry(app))),
    "accounts.change_name": ("member", lambda app: (
        "/account", "/account/name", {"name": MARK})),
    "register.change_address": ("member", lambda app: (
        lambda _: ("/account", "/account/register/address",
                   {"address": f"{MARK}\n1 Road"}))(_member_of_register(app))),
    "notices_staff.new": ("staff", lambda app: (
        "/staff/notices/new", "/staff/notices/new",
        {"text": MARK, "level": "info", "starts_at": "2026-07-01T09:00",
         "ends_at": "2026-07-02T18:30"})),
    "notices_staff.edit": ("staff", lambda app: (
        lambda notice_id: (f"/staff/notices/{notice_id}/edit",
                           f"/staff/notices/{notice_id}/edit",
                           {"text": MARK, "level": "info", "starts_at": "2026-07-01T09:00",
                            "ends_at": ""}))(notice(app))),
}


@pytest.fixture
def csrf_app(make_app):
    return make_app.shared(WTF_CSRF_ENABLED=True)


def test_every_marked_view_is_tested(csrf_app):
    marked = {endpoint for endpoint, view in csrf_app.view_functions.items()
              if getattr(view, "redraws_on_stale_token", False)}
    assert marked == set(CASES) | set(LINK_PAGES)


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_a_stale_token_redraws_the_form_as_typed_and_saves_nothing(
        endpoint, csrf_app, make_user, outbox):
    role, setup = CASES[endpoint]
    client = csrf_app.test_client()
    if role:
        _log_in(client, make_user, role)
    page, action, data = setup(csrf_app)
    assert client.get(page).status_code == 200  # the form's page: this session has a token
    before, mails = snapshot(csrf_app), len(outbox())

    refused = client.post(action, data={**data, "csrf_token": STALE},
                          headers={"Origin": "http://localhost"})

    assert refused.status_code == 422
    text = html.unescape(refused.get_data(as_text=True))
    assert CSRF_MESSAGE in text
    assert MARK in text  # what was typed is still in the form
    assert snapshot(csrf_app) == before and len(outbox()) == mails

    # the page's fresh token: the same input goes through
    sent = client.post(action, data={**data, "csrf_token": _token(refused.get_data(
        as_text=True))}, headers={"Origin": "http://localhost"})
    assert sent.status_code in (302, 303), sent.get_data(as_text=True)[:2000]
    assert snapshot(csrf_app) != before or len(outbox()) > mails


ORIGIN = {"Origin": "http://localhost"}


def test_a_missing_session_redraws_too(csrf_app):
    """No session at all (the cookie gone): the form is drawn again, with a token that
    works."""
    client = csrf_app.test_client()
    refused = client.post("/shares", data={**share_form(name=MARK), "csrf_token": STALE},
                          headers=ORIGIN)
    assert refused.status_code == 422
    assert MARK in html.unescape(refused.get_data(as_text=True))
    sent = client.post("/shares", data={**share_form(name=MARK),
                                        "csrf_token": _token(refused.get_data(as_text=True))},
                       headers=ORIGIN)
    assert sent.status_code in (302, 303)


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "same-origin"},
                                     {"Referer": "http://localhost/shares"}])
def test_any_sign_of_this_site_is_enough(csrf_app, headers):
    response = csrf_app.test_client().post(
        "/shares", data={**share_form(name=MARK), "csrf_token": STALE}, headers=headers)
    assert response.status_code == 422 and MARK in html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("headers", [
    {"Origin": "https://elsewhere.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost"},
    {"Referer": "https://elsewhere.example/page"},
    {"Origin": "https://localhost"},  # another scheme is another site
    {},  # a client that doesn't say where the post came from isn't taken at its word
])
def test_a_post_not_shown_to_come_from_this_site_gets_the_400_page(csrf_app, make_user,
                                                                    headers):
    """Another site can't fill in a form for a reader to send: its post is refused whole."""
    client = csrf_app.test_client()
    _log_in(client, make_user, "staff")
    before = snapshot(csrf_app)
    for path, data in [("/shares", share_form(name=MARK)),
                       ("/staff/notices/new", {"text": MARK, "level": "info",
                                               "starts_at": "2026-07-01T09:00"})]:
        response = client.post(path, data={**data, "csrf_token": STALE}, headers=headers)
        assert response.status_code == 400
        body = html.unescape(response.get_data(as_text=True))
        assert "didn't come from this site" in body and MARK not in body
    assert snapshot(csrf_app) == before


@pytest.mark.parametrize("where", ["form", "header"])
@pytest.mark.parametrize("referrer", [{"Referer": "https://elsewhere.example/page"},
                                      {"Origin": "https://localhost"}])  # and no Referer
def test_a_good_token_failing_the_referrer_check_over_https_gets_the_400_page(
        csrf_app, where, referrer):
    """The library's other check (the referrer, over HTTPS) still applies to marked views,
    wherever the token was sent: only a refused token is drawn again."""
    client = csrf_app.test_client()
    base = "https://localhost"
    token = _token(client.get("/shares", base_url=base).get_data(as_text=True))
    data, headers = ((share_form(name=MARK) | {"csrf_token": token}, {}) if where == "form"
                     else (share_form(name=MARK), {"X-CSRFToken": token}))
    before = snapshot(csrf_app)
    response = client.post("/shares", base_url=base, data=data, headers=headers | referrer)
    assert response.status_code == 400
    assert snapshot(csrf_app) == before
    good = client.post("/shares", base_url=base, data=data,
                       headers=headers | {"Referer": f"{base}/shares"})
    assert good.status_code in (302, 303)


@pytest.mark.parametrize("endpoint", ["newsletter.signup", "events.register"])
def test_stale_posts_use_up_no_ones_allowance(csrf_app, endpoint):
    """Posts with a stale (or no) token are drawn again without counting against the limits,
    per address or per client: else anyone could block someone's address with them."""
    page, action, data = CASES[endpoint][1](csrf_app)
    data = {**data, "email": "someone-else@example.org"}
    stranger = csrf_app.test_client()
    for _ in range(25):  # past both the per-address and the per-client allowance
        refused = stranger.post(action, data={**data, "csrf_token": STALE}, headers=ORIGIN)
        assert refused.status_code == 422
    owner = csrf_app.test_client()
    token = _token(owner.get(page).get_data(as_text=True))
    assert owner.post(action, data={**data, "csrf_token": token},
                      headers=ORIGIN).status_code in (302, 303)


def test_with_the_site_wide_check_off_a_marked_view_is_like_any_other(make_app):
    """WTF_CSRF_ENABLED=False (the tests' default): the marked view runs as any view does."""
    response = make_app().test_client().post("/shares", data=share_form(name=MARK),
                                             headers={"Origin": "https://elsewhere.example"})
    assert response.status_code in (302, 303)


def test_an_unmarked_form_still_gets_the_400_page(csrf_app):
    response = csrf_app.test_client().post(
        "/login", data={"email": "a@example.org", "password": "x", "csrf_token": STALE})
    assert response.status_code == 400


def test_a_staff_form_sent_from_a_remembered_session_gets_the_password_page_keeping_it(
        csrf_app, make_user):
    """QA: a session restored from a remember-me cookie is a new session, so every form
    drawn before it carries a token that no longer matches; Flask-WTF's check answered 400
    and the typed note was lost, before the staff page could ask for the password. From this
    site, the password page answers instead, carrying the note; from another site, 400."""
    from html import unescape

    from werkzeug.datastructures import MultiDict

    enquiry_id = enquiry(csrf_app)
    first = csrf_app.test_client()
    login_token = _token(first.get("/login").get_data(as_text=True))
    assert first.post("/login", data={"email": make_user("staff").email, "password": PASSWORD,
                                      "remember": "y", "csrf_token": login_token}
                      ).status_code == 302
    token = _token(first.get(f"/staff/enquiries/{enquiry_id}").get_data(as_text=True))
    later = csrf_app.test_client()  # the browser closed and opened again: the cookie only
    later.set_cookie("remember_token", first.get_cookie("remember_token").value)
    note = f"{MARK} rang back"
    path = f"/staff/enquiries/{enquiry_id}/notes"
    other_site = later.post(path, data={"body": note, "csrf_token": token},
                            headers={"Origin": "https://elsewhere.example"})
    assert other_site.status_code == 400
    page = later.post(path, data={"body": note, "csrf_token": token}, headers=ORIGIN)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Confirm it" in html
    carried = [(unescape(n), unescape(v)) for n, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)]
    assert ("carry:body", note) in carried and ("carry_to", path) in carried
    assert not [name for name, _ in carried if name.endswith("csrf_token") and name != "csrf_token"]
    assert snapshot(csrf_app)["share_enquiry_notes"] == []  # nothing saved yet
    confirmed = later.post("/login/confirm", data=MultiDict([
        *[(n, v) for n, v in carried if n != "csrf_token"], ("csrf_token", _token(html)),
        ("password", PASSWORD)]), headers=ORIGIN)
    html = confirmed.get_data(as_text=True)
    assert confirmed.status_code == 200 and f'action="{path}"' in html
    again = [(unescape(n), unescape(v)) for n, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)]
    assert ("body", note) in again
    assert later.post(path, data=MultiDict(again), headers=ORIGIN).status_code == 302
    notes = snapshot(csrf_app)["share_enquiry_notes"]
    assert len(notes) == 1 and repr(note) in notes[0]


#: the pages a reset or invitation link opens: nothing typed there is drawn again (passwords
#: never are), so they have a test of their own
LINK_PAGES = {"accounts.reset_password": ("reset", "/login/reset/"),
              "accounts.accept_invitation": ("invite", "/welcome/")}


@pytest.mark.parametrize("endpoint", sorted(LINK_PAGES))
def test_a_password_link_page_sent_twice_says_the_link_is_used_not_400(csrf_app, endpoint):
    """QA: a double click on "Set password" (or the browser sending it again) showed the 400
    "form has expired" page, since setting the password clears the session and its token,
    though the password was set. A stale token draws the form again and changes nothing; the
    second of two posts finds the link used and says to log in."""
    from coop.accounts import services
    purpose, prefix = LINK_PAGES[endpoint]
    with csrf_app.app_context():
        user = services.create_user(_db.session, "twice@example.org", None, name="Ann Twice")
        token = services.password_token(user, purpose)
        _db.session.commit()
        user_id = user.id
    client = csrf_app.test_client()
    page = client.get(prefix + token)
    assert page.status_code == 200
    data = {"new_password": "a long new passphrase 42", "confirm": "a long new passphrase 42"}
    before = snapshot(csrf_app)
    refused = client.post(prefix + token, data={**data, "csrf_token": STALE}, headers=ORIGIN)
    assert refused.status_code == 422 and CSRF_MESSAGE in html.unescape(
        refused.get_data(as_text=True))
    assert snapshot(csrf_app) == before
    good = {**data, "csrf_token": _token(refused.get_data(as_text=True))}
    assert client.post(prefix + token, data=good, headers=ORIGIN).status_code == 302
    again = client.post(prefix + token, data=good, headers=ORIGIN)
    assert again.status_code == 404
    assert "log in with" in html.unescape(again.get_data(as_text=True))
    with csrf_app.app_context():
        assert services.authenticate(_db.session, "twice@example.org",
                                     "a long new passphrase 42", ip="127.0.0.1").id == user_id
