"""Logging in and out through the pages: next=, throttling, sessions, cookies, admin."""

from __future__ import annotations

import html

import pytest

from tests.conftest import PASSWORD, login


def test_login_page_has_labelled_fields(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html


def test_login_and_account_page(client, make_user):
    user = make_user("member", name="Zoë Ó Súilleabháin")
    response = login(client, user.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    page = client.get("/account")
    assert page.status_code == 200
    assert "Zoë Ó Súilleabháin" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


def test_wrong_password_message_is_the_same_as_unknown_email(client, make_user):
    user = make_user()
    wrong = login(client, user.email, "wrong password!!").get_data(as_text=True)
    unknown = login(client, "nobody@example.org", "wrong password!!").get_data(as_text=True)
    message = "That email and password don&#39;t match an account."
    assert message in wrong and message in unknown
    assert f'value="{user.email}"' in wrong  # what was typed is kept


@pytest.mark.parametrize("target", [
    "//evil.example/x",
    "https://evil.example/",
    "/\\evil.example",
    "javascript:alert(1)",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "%252F%252Fevil.example",
    "http:evil.example",
    "/\t/evil.example",
])
def test_next_to_another_site_is_ignored(client, make_user, target):
    user = make_user()
    response = login(client, user.email, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"


def test_next_to_a_local_path_is_followed(client, make_user):
    user = make_user("staff")
    response = login(client, user.email, next="/staff?x=1")
    assert response.headers["Location"] == "/staff?x=1"


def test_anonymous_is_sent_to_login_with_next(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_sixth_attempt_gets_429_even_with_right_password(client, make_user):
    user = make_user()
    for _ in range(5):
        assert login(client, user.email, "wrong password!!").status_code == 200
    response = login(client, user.email)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0


def test_logout_is_post_only_and_kills_copied_cookie(app, make_user):
    user = make_user()
    client = app.test_client()
    login(client, user.email)
    stolen = client.get_cookie("session").value
    assert client.get("/logout").status_code == 303  # led to the front page, still logged in
    assert client.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_session_is_cleared_at_login(app, make_user):
    """A session value planted before login does not survive it (no fixation)."""
    user = make_user()
    client = app.test_client()
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    login(client, user.email)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert "_user_id" in session


def test_cookie_flags(client, make_user):
    user = make_user()
    response = login(client, user.email, remember="y")
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("session="))
    remember_cookie = next(c for c in cookies if c.startswith("remember_token="))
    for cookie in (session_cookie, remember_cookie):
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Max-Age=1209600" in remember_cookie or "Expires=" in remember_cookie


@pytest.mark.own_app  # adds a route, which can't be taken off the worker's shared app
def test_remembered_login_is_not_fresh_for_fresh_only_views(app, make_user):
    from coop.access import access

    @app.route("/fresh-only")
    @access("staff", fresh=True)
    def fresh_only():
        return "ok"

    user = make_user("staff")
    client = app.test_client()
    response = login(client, user.email, remember="y")
    remember = client.get_cookie("remember_token").value
    assert client.get("/fresh-only").get_data(as_text=True) == "ok"
    # a new browser session with only the remember-me cookie: logged in but not fresh
    later = app.test_client()
    later.set_cookie("remember_token", remember)
    assert later.get("/account").status_code == 200
    response = later.get("/fresh-only")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_change_password_logs_out_other_sessions(app, make_user):
    user = make_user()
    here, elsewhere = app.test_client(), app.test_client()
    login(here, user.email)
    login(elsewhere, user.email)
    response = here.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "another long passphrase",
        "confirm": "another long passphrase"})
    assert response.status_code == 302
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302


def test_change_password_errors_next_to_fields(client, login_as):
    login_as("member")
    response = client.post("/account/password", data={
        "current_password": "not it at all", "new_password": "short", "confirm": "short"})
    html = response.get_data(as_text=True)
    assert "Use at least 10 characters." in html
    assert 'aria-invalid="true"' in html


def test_the_new_password_must_differ_from_the_current_one(app, client, login_as):
    login_as("member")
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": PASSWORD, "confirm": PASSWORD})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="new_password-error"' in html and "That is your current password" in html
    assert client.get("/account").status_code == 200  # nothing ended


def test_deactivated_user_is_logged_out_at_next_request(app, make_user):
    admin = make_user("admin")
    user = make_user("member")
    admin_client, user_client = app.test_client(), app.test_client()
    login(admin_client, admin.email)
    login(user_client, user.email)
    assert user_client.get("/account").status_code == 200
    unticked = admin_client.post(f"/admin/users/{user.id}/deactivate", follow_redirects=True)
    assert "Nothing was done: tick the box beside" in html.unescape(  # one click alone (QA)
        unticked.get_data(as_text=True))
    assert user_client.get("/account").status_code == 200
    response = admin_client.post(f"/admin/users/{user.id}/deactivate", data={"confirm": "y"})
    assert response.status_code == 302
    assert user_client.get("/account").status_code == 302
    assert login(user_client, user.email).status_code == 200  # refused, form shown again


def test_admin_changes_role(app, make_user):
    admin = make_user("admin")
    user = make_user("member")
    client = app.test_client()
    login(client, admin.email)
    client.post(f"/admin/users/{user.id}/role", data={"role": "staff"})
    page = client.get("/admin/users").get_data(as_text=True)
    assert user.email in page
    member_client = app.test_client()
    login(member_client, user.email)
    assert member_client.get("/staff").status_code == 200


def test_an_admin_cannot_change_their_own_role_and_a_no_change_says_so(app, client, login_as,
                                                                      make_user, outbox):
    """QA: an admin demoted themselves in one click and landed on "Not allowed"."""
    admin = login_as("admin")
    make_user("admin")  # not the last admin: the refusal is about it being their own
    page = client.get("/admin/users").get_data(as_text=True)
    assert f'action="/admin/users/{admin.id}/role"' not in page
    assert "Admin (you: another admin can change it)" in page
    response = client.post(f"/admin/users/{admin.id}/role", data={"role": "member"},
                           follow_redirects=True)
    assert response.status_code == 200  # still on the admin page
    assert "You can&#39;t change your own role: ask another admin." in response.get_data(
        as_text=True)
    other = make_user("member")
    before = len(outbox())
    response = client.post(f"/admin/users/{other.id}/role", data={"role": "member"},
                           follow_redirects=True)
    assert f"Nothing changed: {other.email} is a member already." in response.get_data(
        as_text=True)
    assert len(outbox()) == before  # no "your role changed" email for nothing
    response = client.post(f"/admin/users/{other.id}/role", data={"role": "staff"},
                           follow_redirects=True)
    assert f"{other.email} is now staff." in response.get_data(as_text=True)


def test_admin_search_takes_percent_and_underscore_as_themselves(client, login_as, make_user):
    login_as("admin")
    make_user("member", email="j_smith@example.org")
    make_user("member", email="j-smith@example.org")
    make_user("member", email="plain@example.org", name="100% reader")
    page = client.get("/admin/users?q=j_smith").get_data(as_text=True)
    assert "j_smith@example.org" in page and "j-smith@example.org" not in page
    page = client.get("/admin/users?q=%25").get_data(as_text=True)
    assert "<caption>1 account</caption>" in page and "100% reader" in page


def test_invisible_direction_controls_are_dropped_from_names(app, client, login_as):
    """QA: "\u202eevil\u202c name" showed as "live name" in the users list. Nobody can see
    these characters to take them out, so they are dropped rather than refused."""
    login_as("admin")
    response = client.post("/admin/users", data={"email": "rtl@example.org", "role": "member",
                                                 "name": "\u202eevil\u202c name\u2066"})
    assert response.status_code == 302
    hebrew = client.post("/admin/users", data={"email": "he@example.org", "role": "member",
                                               "name": "\u05d3\u05e0\u05d4 \u200fכהן"})
    assert hebrew.status_code == 302  # a right-to-left name keeps its right-to-left mark
    from coop.accounts.services import get_by_email
    from coop.extensions import db

    with app.app_context():
        assert get_by_email(db.session, "rtl@example.org").name == "evil name"
        assert get_by_email(db.session, "he@example.org").name == "\u05d3\u05e0\u05d4 \u200fכהן"


def test_admin_creates_account_with_field_errors(client, login_as):
    login_as("admin")
    response = client.post("/admin/users", data={"email": "not-an-email", "role": "staff"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a valid email address." in html
    assert 'value="not-an-email"' in html
    assert "in person or by phone" not in html
    response = client.post("/admin/users", data={"email": "new@example.org", "role": "staff"})
    assert response.status_code == 302


def test_member_cannot_reach_admin(client, login_as):
    login_as("member")
    assert client.get("/admin/users").status_code == 403


def test_strength_advice_is_shown_next_to_the_new_password(client, login_as):
    login_as("member")
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "Password2024!",
        "confirm": "Password2024!"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = html[html.index('id="new_password-error"'):]
    errors = errors[:errors.index("</ul>")]
    assert "too easy to guess" in errors
    assert "similar to a commonly used password" in errors  # zxcvbn's own warning


def test_strength_counts_the_name_as_guessable(db):
    from coop.accounts import passwords

    assert not passwords.password_problems("rosa luxemburg", email="r@example.org")
    named = passwords.password_problems("rosa luxemburg", email="r@example.org",
                                        name="Rosa Luxemburg")
    assert named and "too easy to guess" in named[0]
    assert not passwords.password_problems("lantern orchard velvet ninety",
                                           email="r@example.org", name="Rosa Luxemburg")


def test_the_login_page_says_who_is_logged_in_already(client, login_as):
    user = login_as("member")
    page = client.get("/login").get_data(as_text=True)
    assert f"You're logged in as {user.email}" in page.replace("&#39;", "'")


def test_logging_out_again_from_an_older_page_says_you_are_logged_out(make_app, make_user):
    """QA: "Log out" in a second tab, after the first had logged out, gave a 400 "This form
    has expired" page. With a session it still needs the page's token (no cross-site logout)."""
    import re

    app = make_app(WTF_CSRF_ENABLED=True)
    user = make_user()
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert login(client, user.email, csrf_token=token).status_code == 302
    page = client.get("/account").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout").status_code == 400  # no token: a forged logout
    assert client.get("/account").status_code == 200  # still logged in
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    again = client.post("/logout", data={"csrf_token": token}, follow_redirects=True)
    assert again.status_code == 200 and "You&#39;re logged out." in again.get_data(as_text=True)
