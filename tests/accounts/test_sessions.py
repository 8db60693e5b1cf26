"""Signed-in sessions: listed on /account, ended one by one or all at once, idle and
remember-me limits for staff, fresh logins for admin actions."""

from __future__ import annotations

import datetime as dt
import re
from email.utils import parsedate_to_datetime

import sqlalchemy as sa

from coop.accounts import services, sessions
from coop.accounts.models import User, UserSession
from coop.db import now_utc
from tests.conftest import PASSWORD, login, remembered_client

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


def test_describe_device():
    assert sessions.describe_device(FIREFOX) == "Firefox on Windows"
    assert sessions.describe_device(IPHONE) == "Safari on iPhone"
    assert sessions.describe_device("") == "Unknown device"
    assert sessions.describe_device("<script>curl/8") == "scriptcurl/8"


def test_account_page_lists_sessions_and_logs_out_everywhere_else(app, make_user):
    user = make_user()
    laptop = app.test_client()
    phone = app.test_client()
    laptop.post("/login", data={"email": user.email, "password": PASSWORD},
                headers={"User-Agent": FIREFOX})
    phone.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"},
               headers={"User-Agent": IPHONE})
    html = laptop.get("/account").get_data(as_text=True)
    assert "Firefox on Windows <strong>(this device)</strong>" in html
    assert "Safari on iPhone" in html
    stolen_remember = phone.get_cookie("remember_token").value
    response = laptop.post("/account/sessions/others")
    assert response.status_code == 302
    assert laptop.get("/account").status_code == 200
    # the phone is logged out at its next request, and its remember-me cookie is cleared
    response = phone.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    thief = app.test_client()
    thief.set_cookie("remember_token", stolen_remember)
    assert thief.get("/account").status_code == 302
    assert "Safari on iPhone" not in laptop.get("/account").get_data(as_text=True)


def copy_of(app, client):
    """Another browser with ``client``'s cookies (copied off a shared computer, say)."""
    copy = app.test_client()
    for name in ("session", "remember_token"):
        cookie = client.get_cookie(name)
        if cookie is not None:
            copy.set_cookie(name, cookie.value)
    return copy


def test_a_copy_of_this_browsers_cookies_is_logged_out_with_the_others(app, make_user):
    """"Log out everywhere else" and a password change end the copy of this browser's
    cookies too: this browser carries on under a new session, remembered as before and as
    fresh as before."""
    from coop.extensions import db

    user = make_user()
    password = PASSWORD
    for action in ("others", "password"):
        owner = app.test_client()
        login(owner, user.email, password, remember="y")
        copies = [copy_of(app, owner), copy_of(app, owner)]
        copies[1].delete_cookie("session")  # only the remember-me cookie
        assert all(copy.get("/account").status_code == 200 for copy in copies)
        if action == "others":
            assert owner.post("/account/sessions/others").status_code == 302
        else:
            new = password + " again"
            response = owner.post("/account/password", data={
                "current_password": password, "new_password": new, "confirm": new})
            assert response.status_code == 302, response.get_data(as_text=True)
            password = new
        for copy in copies:
            response = copy.get("/account")
            assert response.status_code == 302 and "/login" in response.headers["Location"]
        assert owner.get("/account").status_code == 200
        with app.app_context():
            live = sessions.live_sessions(db.session, db.session.get(User, user.id))
            assert len(live) == 1 and live[0].remember
        # the new session is remembered like the old one: its cookie alone logs in
        assert copy_of(app, owner).get("/account").status_code == 200


def test_renewing_keeps_a_fresh_login_fresh_and_a_remembered_one_not(app, make_user):
    admin = make_user("admin")
    invite = {"email": "new.admin@example.org", "role": "admin"}
    restored = remembered_client(app, admin.email)  # a remember-me cookie only: not fresh
    assert restored.get("/account").status_code == 200
    restored.post("/account/sessions/others")
    response = restored.post("/admin/users", data=invite)
    assert response.status_code == 200 and "Confirm it" in response.get_data(as_text=True)
    fresh = app.test_client()  # the password typed in this browser: fresh
    login(fresh, admin.email)
    fresh.post("/account/sessions/others")
    response = fresh.post("/admin/users", data=invite)
    assert response.status_code == 302 and "/login/confirm" not in response.headers["Location"]


def test_renewing_is_not_a_login_and_keeps_the_end_of_a_remembered_staff_session(
        app, make_user):
    """A remembered staff login lasts at most 24 hours: renewing it ("log out everywhere
    else", again and again) doesn't start the 24 hours afresh, nor count as logging in."""
    from coop.extensions import db

    staff = make_user("staff")
    client = app.test_client()
    login(client, staff.email, remember="y")
    with app.app_context():
        user = db.session.get(User, staff.id)
        [before] = sessions.live_sessions(db.session, user)
        expires, logged_in = before.expires_at, user.last_login_at
    for _ in range(3):
        assert client.post("/account/sessions/others").status_code == 302
    with app.app_context():
        user = db.session.get(User, staff.id)
        [after] = sessions.live_sessions(db.session, user)
        assert after.id != before.id and after.remember
        assert after.expires_at == expires and user.last_login_at == logged_in
    cookie = client.get_cookie("remember_token")
    assert cookie.expires is not None
    assert abs(cookie.expires.timestamp() - expires.timestamp()) < 5


def test_end_one_session_and_not_someone_elses(app, make_user):
    user, other = make_user(), make_user()
    mine, mine_too, theirs = app.test_client(), app.test_client(), app.test_client()
    login(mine, user.email)
    login(mine_too, user.email)
    login(theirs, other.email)
    from coop.extensions import db

    with app.app_context():
        rows = db.session.scalars(sa.select(UserSession).order_by(UserSession.id)).all()
        ids = {(r.user_id, r.id) for r in rows}
    their_id = next(i for u, i in ids if u == other.id)
    second_id = max(i for u, i in ids if u == user.id)
    mine.post(f"/account/sessions/{their_id}/end")
    assert theirs.get("/account").status_code == 200
    mine.post(f"/account/sessions/{second_id}/end")
    assert mine_too.get("/account").status_code == 302
    assert mine.get("/account").status_code == 200


def test_logout_ends_only_this_session(app, make_user):
    user = make_user()
    one, two = app.test_client(), app.test_client()
    login(one, user.email)
    login(two, user.email)
    one.post("/logout")
    assert one.get("/account").status_code == 302
    assert two.get("/account").status_code == 200


def test_staff_sessions_end_after_eight_idle_hours_members_do_not(db):
    staff = services.create_user(db.session, "s@example.org", PASSWORD, role="staff")
    member = services.create_user(db.session, "m@example.org", PASSWORD)
    start = now_utc()
    staff_token, _ = sessions.start(db.session, staff, device="x", remember=False, now=start)
    member_token, _ = sessions.start(db.session, member, device="x", remember=False, now=start)
    db.session.commit()
    later = start + dt.timedelta(hours=7, minutes=59)
    assert sessions.load(db.session, staff_token, now=later) is staff
    # seen at 7:59, so idle counts from there
    assert sessions.load(db.session, staff_token, now=later + dt.timedelta(hours=7)) is staff
    assert sessions.load(db.session, staff_token,
                         now=later + dt.timedelta(hours=15, minutes=1)) is None
    assert sessions.load(db.session, member_token, now=start + dt.timedelta(hours=9)) is member


def test_idle_hours_are_a_setting(make_app, make_user):
    app = make_app(STAFF_IDLE_HOURS=1)
    from coop.extensions import db

    make_user("staff", email="s@example.org")
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "s@example.org"))
        token, _ = sessions.start(db.session, user, device="x", remember=False)
        db.session.commit()
        assert sessions.load(db.session, token, now=now_utc() + dt.timedelta(minutes=61)) is None


def test_staff_remember_me_lasts_at_most_24_hours(app, make_user):
    staff, member = make_user("staff"), make_user("member")
    cookies = {}
    for user in (staff, member):
        client = app.test_client()
        response = login(client, user.email, remember="y")
        cookie = next(c for c in response.headers.getlist("Set-Cookie")
                      if c.startswith("remember_token="))
        expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
        cookies[user.role] = round((expires - now_utc()).total_seconds() / 3600)
    assert cookies == {"staff": 24, "member": 14 * 24}
    from coop.extensions import db

    with app.app_context():
        row = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == staff.id))
        token = "never mind"
        assert row.expires_at - row.created_at == dt.timedelta(hours=24)
        assert sessions.load(db.session, token) is None


def test_a_remembered_staff_session_ends_after_24_hours_server_side(db):
    staff = services.create_user(db.session, "s@example.org", PASSWORD, role="staff")
    start = now_utc()
    token, _ = sessions.start(db.session, staff, device="x", remember=True, now=start)
    db.session.commit()
    t = start
    for _ in range(4):  # kept busy, never idle
        t += dt.timedelta(hours=6, minutes=-1)
        assert sessions.load(db.session, token, now=t) is staff
    assert sessions.load(db.session, token, now=start + dt.timedelta(hours=24)) is None


def test_a_remembered_admin_session_cannot_create_an_admin(app, make_user):
    admin = make_user("admin")
    later = remembered_client(app, admin.email)  # the browser was closed: only the cookie left
    # the member's own pages open; every staff and admin page first asks for the password
    assert later.get("/account").status_code == 200
    for page in ("/admin/users", "/staff", "/staff/register", "/staff/enquiries"):
        response = later.get(page)
        assert response.status_code == 302, page
        assert response.headers["Location"].startswith("/login/confirm?next="), page
    # a form sent gets the password page (keeping what was sent), and nothing is done
    response = later.post("/admin/users", data={"email": "new.admin@example.org",
                                                "role": "admin"})
    assert response.status_code == 200 and "Confirm it" in response.get_data(as_text=True)
    for action in ("role", "deactivate", "reactivate", "invite", "two-factor/reset"):
        response = later.post(f"/admin/users/{admin.id}/{action}", data={"role": "admin"})
        assert response.status_code == 200, action
        assert 'action="/login/confirm#errors"' in response.get_data(as_text=True), action
    from coop.extensions import db

    with app.app_context():
        assert db.session.scalar(sa.select(User).where(
            User.email == "new.admin@example.org")) is None
    # confirming with the password makes the session fresh again
    page = later.get("/login/confirm?next=/admin/users")
    assert "Confirm it" in page.get_data(as_text=True)
    wrong = later.post("/login/confirm", data={"password": "not it at all", "next": "/admin/users"})
    assert wrong.status_code == 422
    done = later.post("/login/confirm", data={"password": PASSWORD, "next": "/admin/users"})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/users"
    response = later.post("/admin/users", data={"email": "new.admin@example.org",
                                                "role": "admin"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users"


def test_role_change_is_emailed_to_the_person(app, make_user, outbox):
    admin, user = make_user("admin"), make_user("member")
    client = app.test_client()
    login(client, admin.email)
    client.post(f"/admin/users/{user.id}/role", data={"role": "staff"})
    message = outbox()[-1]
    assert message["To"] == user.email and "role" in message["Subject"]
    assert "from member to staff" in message.get_content()


def test_purge_deletes_ended_sessions(app, runner, make_user):
    user = make_user()
    client = app.test_client()
    login(client, user.email)
    client.post("/logout")
    from coop.extensions import db

    with app.app_context():
        db.session.execute(sa.update(UserSession).values(
            revoked_at=now_utc() - dt.timedelta(days=30)))
        db.session.commit()
    result = runner.invoke(args=["purge-login-failures"])
    assert "1 old session" in result.output


def test_noting_last_seen_never_waits_for_the_requests_own_lock(db):
    """A view that wrote first and then asks who is logged in must not wait for itself: the
    bookkeeping is skipped when the row (or SQLite's database) is locked."""
    import time

    user = services.create_user(db.session, "a@example.org", PASSWORD)
    start = now_utc()
    token, row = sessions.start(db.session, user, device="x", remember=False, now=start)
    db.session.commit()
    db.session.execute(sa.update(UserSession).where(UserSession.id == row.id)
                       .values(device="being changed"))  # this transaction holds the lock
    began = time.monotonic()
    assert sessions.load(db.session, token, now=start + dt.timedelta(minutes=5)) is user
    assert time.monotonic() - began < 3
    db.session.commit()
    later = start + dt.timedelta(minutes=10)
    assert sessions.load(db.session, token, now=later) is user
    db.session.expire_all()
    assert db.session.get(UserSession, row.id).last_seen_at == later


def test_a_form_sent_from_a_session_gone_stale_comes_back_to_its_page(app, make_user):
    """A form sent from a session that is no longer fresh gets the password page, which
    keeps what was typed; its way back is the page the form was on, when it is this site's
    (the form's own address, opened with GET, would be a 405)."""
    later = remembered_client(app, make_user("staff").email)
    response = later.post("/staff/enquiries/1/notes", data={"body": "x"},
                          headers={"Referer": "http://localhost/staff/enquiries/1?tab=a"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Confirm it" in page
    assert 'name="next" type="hidden" value="/staff/enquiries/1?tab=a"' in page
    assert '<input type="hidden" name="carry:body" value="x">' in page
    for elsewhere in ("http://evil.example/staff/enquiries/1", "", "http://localhost//evil"):
        response = later.post("/staff/enquiries/1/notes", data={"body": "x"},
                              headers={"Referer": elsewhere} if elsewhere else {})
        page = response.get_data(as_text=True)
        assert 'name="next" type="hidden" value="/account"' in page, elsewhere
