"""Two-step verification: setting it up (QR code and key), logging in with a code, replays,
recovery codes, throttling, turning it off, an admin's reset, and requiring it for staff."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
import time

import pyotp
import pytest
import sqlalchemy as sa

from coop.accounts import services, throttle, twofactor
from coop.accounts.models import RecoveryCode, User
from coop.audit import AuditEvent
from coop.db import now_utc
from tests.conftest import PASSWORD, login

SECRET_TEXT = re.compile(r'<code class="secret-key">([A-Z2-7 ]+)</code>')
CODES = re.compile(r"<li><code>([a-z2-9-]{19})</code></li>")


def code_at(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def turn_on(client) -> tuple[str, list[str]]:
    """Set up two-step verification through the pages; returns (secret, recovery codes)."""
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = SECRET_TEXT.search(page).group(1).replace(" ", "")
    response = client.post("/account/two-factor",
                           data={"code": code_at(secret), "password": PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = CODES.findall(response.get_data(as_text=True))
    return secret, codes


def enable(app, user, *, step=0) -> tuple[str, list[str]]:
    """Set up two-step verification in the service; the step now is used up."""
    from coop.extensions import db

    with app.app_context():
        row = db.session.get(User, user.id)
        secret = twofactor.new_secret()
        codes = twofactor.enable(db.session, row, secret, code_at(secret, step))
        db.session.commit()
        return secret, codes


def test_setup_shows_a_qr_code_and_the_key_then_ten_codes_once(app, client, login_as, outbox):
    login_as("member")
    page = client.get("/account/two-factor")
    html = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert 'src="data:image/svg+xml;base64,' in html and 'alt="QR code' in html
    secret = SECRET_TEXT.search(html).group(1).replace(" ", "")
    assert len(secret) == 32
    # the same secret until it is confirmed (reloading the page doesn't change it)
    assert secret in client.get("/account/two-factor").get_data(as_text=True).replace(" ", "")
    wrong = client.post("/account/two-factor", data={"code": "000000", "password": PASSWORD})
    assert wrong.status_code == 422 and "doesn&#39;t match" in wrong.get_data(as_text=True)
    right = client.post("/account/two-factor", data={"code": code_at(secret), "password": PASSWORD})
    codes = CODES.findall(right.get_data(as_text=True))
    assert right.status_code == 200 and len(set(codes)) == 10
    assert right.headers["Cache-Control"] == "no-store"
    # stored hashed, never shown again
    from coop.extensions import db

    with app.app_context():
        stored = db.session.scalars(sa.select(RecoveryCode.code_hash)).all()
        assert len(stored) == 10 and not set(codes) & set(stored)
    again = client.get("/account/two-factor").get_data(as_text=True)
    assert "Two-step verification is on" in again and codes[0] not in again
    assert "10 unused recovery codes" in again
    assert "Two-step verification is on" in outbox()[-1]["Subject"]


def test_turning_it_on_needs_the_password_too(app, make_user):
    """Someone with the owner's cookie (an unattended browser, a copied "keep me logged in"
    cookie) can't lock the owner out with their own authenticator app."""
    from coop.extensions import db

    user = make_user()
    owner = app.test_client()
    login(owner, user.email, remember="y")
    stranger = app.test_client()  # with only the owner's "keep me logged in" cookie
    stranger.set_cookie("remember_token", owner.get_cookie("remember_token").value)
    page = stranger.get("/account/two-factor").get_data(as_text=True)
    secret = SECRET_TEXT.search(page).group(1).replace(" ", "")
    for password, message in (("", "Enter your password to confirm it&#39;s you."),
                              ("guessed-wrong", "That isn&#39;t your password.")):
        refused = stranger.post("/account/two-factor",
                                data={"code": code_at(secret), "password": password})
        body = refused.get_data(as_text=True)
        assert refused.status_code == 422 and message in body
        assert 'value="' + code_at(secret) + '"' in body  # what was typed is kept
        with app.app_context():
            assert not db.session.get(User, user.id).two_factor_enabled
    # the owner, who knows the password, can
    assert stranger.post("/account/two-factor", data={"code": code_at(secret),
                                                      "password": PASSWORD}).status_code == 200
    with app.app_context():
        assert db.session.get(User, user.id).two_factor_enabled


def test_a_code_in_full_width_digits_is_read_and_other_digits_are_just_wrong(app, make_user):
    user = make_user()
    secret, _ = enable(app, user)
    client = app.test_client()
    login(client, user.email)
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in code_at(secret, 1))
    wrong = client.post("/login/code", data={"code": arabic_indic})
    assert wrong.status_code == 422 and "That code isn" in wrong.get_data(as_text=True)
    full_width = "".join(chr(0xFF10 + int(d)) for d in code_at(secret, 1))
    assert client.post("/login/code", data={"code": full_width}).status_code == 302
    assert client.get("/account").status_code == 200


def test_login_asks_for_the_code_after_the_password(app, make_user):
    user = make_user()
    secret, _ = enable(app, user)
    client = app.test_client()
    response = login(client, user.email)
    assert response.status_code == 302 and response.headers["Location"] == "/login/code"
    # half logged in: not logged in
    assert client.get("/account").status_code == 302
    page = client.get("/login/code").get_data(as_text=True)
    assert "Enter your code" in page
    wrong = client.post("/login/code", data={"code": "123456"})
    assert wrong.status_code == 422 and "That code isn" in wrong.get_data(as_text=True)
    right = client.post("/login/code", data={"code": code_at(secret, 1)})
    assert right.status_code == 302 and right.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200


def test_a_code_cannot_be_replayed(app, make_user):
    user = make_user()
    secret, _ = enable(app, user)
    code = code_at(secret, 1)
    first = app.test_client()
    login(first, user.email)
    assert first.post("/login/code", data={"code": code}).status_code == 302
    second = app.test_client()  # someone who saw the code over the owner's shoulder
    login(second, user.email)
    refused = second.post("/login/code", data={"code": code})
    assert refused.status_code == 422
    assert "That code has just been used, and each works once." in htmllib.unescape(
        refused.get_data(as_text=True))
    # nor an older one, still inside the window
    assert second.post("/login/code", data={"code": code_at(secret, 0)}).status_code == 422


def test_a_recovery_code_works_once(app, make_user):
    user = make_user()
    _, codes = enable(app, user)
    client = app.test_client()
    login(client, user.email)
    response = client.post("/login/code", data={"code": codes[3].upper().replace("-", " ")})
    assert response.status_code == 302
    assert "9 left" in client.get("/account").get_data(as_text=True)
    again = app.test_client()
    login(again, user.email)
    assert again.post("/login/code", data={"code": codes[3]}).status_code == 422
    from coop.extensions import db

    with app.app_context():
        assert "user.recovery_code_used" in db.session.scalars(
            sa.select(AuditEvent.action)).all()


def test_codes_are_throttled_and_a_right_password_does_not_reset_that(app, make_user):
    user = make_user()
    secret, _ = enable(app, user)
    client = app.test_client()
    for _ in range(5):
        login(client, user.email)  # the password is known to this attacker
        assert client.post("/login/code", data={"code": "000000"}).status_code == 422
    login(client, user.email)
    response = client.post("/login/code", data={"code": code_at(secret, 1)})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)


def test_wrong_codes_from_many_addresses_are_counted_for_the_account(app, make_user, outbox):
    """Someone with the password, guessing codes from a new address each time: after ten the
    owner is told (once), after thirty no code is checked, not even the right one, until the
    password is changed."""
    from coop.extensions import db

    user = make_user()
    secret, _ = enable(app, user)
    now = now_utc()
    with app.app_context():
        row = db.session.get(User, user.id)
        for n in range(1, twofactor.CODE_FAILURES_LIMIT + 1):
            with pytest.raises(twofactor.InvalidCode):
                twofactor.verify(db.session, row, "000000", ip=f"198.51.100.{n}", now=now)
            db.session.rollback()
            notices = [m for m in outbox() if "Someone has your password" in m["Subject"]]
            assert len(notices) == (1 if n >= twofactor.CODE_NOTICE_AFTER else 0), n
        assert notices[0]["To"] == user.email
        body = notices[0].get_body(preferencelist=("plain",)).get_content()
        assert app.config["BASE_URL"] + "/login/forgot" in body
        with pytest.raises(twofactor.CodesExhausted) as refused:
            twofactor.verify(db.session, row, pyotp.TOTP(secret).at(now), ip="203.0.113.9",
                             now=now)
        assert dt.timedelta(hours=23) < refused.value.retry_after <= dt.timedelta(days=1)
        assert "Forgot your password" in str(refused.value)
        # the owner resets the password: the wait is over, and the right code works
        services.set_password(db.session, row, "a brand new passphrase here")
        db.session.commit()
        next_code = pyotp.TOTP(secret).at(now.timestamp() + 30)  # this step's was used
        assert twofactor.verify(db.session, row, next_code, ip="203.0.113.9", now=now) == "totp"
        # the new password has a counter of its own, from nothing
        assert throttle.counted(db.session, app.config["SECRET_KEY"], "code-account",
                                twofactor._account_key(row), window=dt.timedelta(days=1),
                                now=now)[0] == 0


def test_the_half_logged_in_state_expires(app, make_user):
    user = make_user()
    secret, _ = enable(app, user)
    client = app.test_client()
    login(client, user.email)
    with client.session_transaction() as session:
        pending = dict(session["two_factor_pending"])
        pending["at"] -= 301
        session["two_factor_pending"] = pending
    response = client.post("/login/code", data={"code": code_at(secret, 1)})
    assert response.status_code == 200 and "Please log in again" in response.get_data(
        as_text=True)
    assert client.get("/account").status_code == 302


def test_the_code_page_without_a_password_first(client):
    response = client.get("/login/code")
    assert response.status_code == 200 and "Please log in again" in response.get_data(
        as_text=True)


def test_turning_it_off_needs_the_password(app, client, login_as, outbox):
    login_as("member")
    turn_on(client)
    wrong = client.post("/account/two-factor/off", data={"off-password": "not it at all"})
    assert wrong.status_code == 422 and "That isn&#39;t your password." in wrong.get_data(
        as_text=True)
    done = client.post("/account/two-factor/off", data={"off-password": PASSWORD})
    assert done.status_code == 302
    assert "Turn on two-step verification" in client.get("/account").get_data(as_text=True)
    assert "turned off" in outbox()[-1]["Subject"]


def test_new_recovery_codes_replace_the_old(app, client, login_as):
    login_as("member")
    _, old = turn_on(client)
    response = client.post("/account/two-factor/recovery-codes",
                           data={"codes-password": PASSWORD})
    new = CODES.findall(response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)


def test_admin_resets_a_second_factor_audited_and_emailed(app, make_user, outbox):
    admin, user = make_user("admin"), make_user("member")
    enable(app, user)
    client = app.test_client()
    login(client, admin.email)
    assert "Reset" in client.get("/admin/users").get_data(as_text=True)
    assert client.post(f"/admin/users/{user.id}/two-factor/reset",
                       data={"confirm": "y"}).status_code == 302
    from coop.extensions import db

    with app.app_context():
        assert not db.session.get(User, user.id).two_factor_enabled
        event = db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.action == "user.two_factor_reset"))
        assert event.actor_id == admin.id and event.subject_id == str(user.id)
    assert outbox()[-1]["To"] == user.email and "by an admin" in outbox()[-1]["Subject"]
    assert login(app.test_client(), user.email).headers["Location"] == "/account"


def test_staff_must_set_it_up_when_required(make_app, make_user):
    app = make_app(REQUIRE_TWO_FACTOR="staff")
    staff, member = make_user("staff"), make_user("member")
    client = app.test_client()
    response = login(client, staff.email)
    assert response.headers["Location"] == "/account/two-factor"
    response = client.get("/staff")
    assert response.status_code == 302 and response.headers["Location"] == "/account/two-factor"
    assert client.get("/account").status_code == 200  # their own account still works
    turn_on(client)
    assert client.get("/staff").status_code == 200
    member_client = app.test_client()
    assert login(member_client, member.email).headers["Location"] == "/account"


def test_off_by_default(client, login_as):
    login_as("staff")
    assert client.get("/staff").status_code == 200


def test_reauthenticating_asks_for_the_code_too(app, make_user):
    admin = make_user("admin")
    secret, _ = enable(app, admin)
    first = app.test_client()
    login(first, admin.email, remember="y")
    first.post("/login/code", data={"code": code_at(secret, 1)})
    later = app.test_client()
    later.set_cookie("remember_token", first.get_cookie("remember_token").value)
    page = later.get("/login/confirm").get_data(as_text=True)
    assert "Code from your authenticator app" in page
    no_code = later.post("/login/confirm", data={"password": PASSWORD})
    assert no_code.status_code == 422, no_code.get_data(as_text=True)[-3000:]
    done = later.post("/login/confirm", data={"password": PASSWORD,
                                               "code": code_at(secret, -1)})
    # step -1 is older than the step used at login: refused as a replay
    assert done.status_code == 422
    done = later.post("/login/confirm", data={"password": PASSWORD, "code": "x" * 41})
    assert done.status_code == 422


def test_verify_service_replay_and_window(db):
    user = services.create_user(db.session, "a@example.org", PASSWORD)
    db.session.commit()
    secret = twofactor.new_secret()
    now = now_utc()
    twofactor.enable(db.session, user, secret, pyotp.TOTP(secret).at(now), now=now)
    db.session.commit()
    later = now + dt.timedelta(seconds=30)
    assert twofactor.verify(db.session, user, pyotp.TOTP(secret).at(later), ip="x",
                            now=later) == "totp"
    with pytest.raises(twofactor.InvalidCode):
        twofactor.verify(db.session, user, pyotp.TOTP(secret).at(later), ip="x", now=later)
    far = now + dt.timedelta(minutes=5)
    with pytest.raises(twofactor.InvalidCode):  # a code from 5 minutes ago
        twofactor.verify(db.session, user, pyotp.TOTP(secret).at(now + dt.timedelta(
            seconds=60)), ip="x", now=far)


def test_qr_code_is_svg_made_here():
    import base64

    uri = twofactor.qr_data_uri("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP")
    svg = base64.b64decode(uri.split(",", 1)[1]).decode()
    assert "<svg" in svg and "<path" in svg and htmllib.escape("<") not in svg[:5]


def test_codes_sent_at_once_from_many_addresses_get_only_the_allowance(app, make_user,
                                                                        monkeypatch):
    """The account's allowance is taken before a code is checked, in one locked step: a
    burst can't all pass a count read before any of them wrote it. (Three a day here, seven
    at once: each thread holds two of the pool's fifteen connections.)"""
    import threading

    from coop.extensions import db

    user = make_user()
    enable(app, user)
    monkeypatch.setattr(twofactor, "CODE_FAILURES_LIMIT", 3)
    monkeypatch.setattr(twofactor, "CODE_NOTICE_AFTER", 100)
    checked, lock = [], threading.Lock()
    real = twofactor._use_code

    def counting(*args):
        with lock:
            checked.append(1)
        return real(*args)

    monkeypatch.setattr(twofactor, "_use_code", counting)
    barrier, outcomes = threading.Barrier(7), []

    def attempt(n):
        with app.app_context():
            row = db.session.get(User, user.id)
            barrier.wait()
            try:
                twofactor.verify(db.session, row, "000000", ip=f"198.51.100.{n}")
                outcome = "passed"
            except twofactor.CodesExhausted:
                outcome = "refused"
            except twofactor.InvalidCode:
                outcome = "wrong"
            db.session.rollback()
            db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["refused"] * 4 + ["wrong"] * 3
    assert len(checked) == 3
