"""Forgot password, invitations and email-change links: each token's life cycle, the same
answer for every address, calm pages for bad links, and links built only from BASE_URL."""

from __future__ import annotations

import re

import itsdangerous
import pytest
import sqlalchemy as sa

from coop.accounts import services
from coop.accounts.models import User
from coop.audit import AuditEvent
from tests.conftest import PASSWORD, login

BASE = "http://127.0.0.1:5000"
RESET = re.compile(re.escape(BASE) + r"(/login/reset/\S+)")
WELCOME = re.compile(re.escape(BASE) + r"(/welcome/\S+)")
CONFIRM = re.compile(re.escape(BASE) + r"(/account/email/confirm/\S+)")
NEW = "a fresh long passphrase"


def ask_reset(client, email, **kwargs):
    return client.post("/login/forgot", data={"email": email}, **kwargs)


def link(outbox, pattern, to):
    messages = [m for m in outbox() if m["To"] == to]
    assert messages, f"no mail to {to}"
    return pattern.search(messages[-1].get_content()).group(1)


def set_password(client, path, password=NEW):
    return client.post(path, data={"new_password": password, "confirm": password})


def user_row(app, email) -> User | None:
    from coop.extensions import db

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


@pytest.fixture
def past(monkeypatch):
    """``with past(seconds):`` signs tokens as if made that long ago."""
    from contextlib import contextmanager

    @contextmanager
    def shift(seconds: int):
        real = itsdangerous.timed.TimestampSigner.get_timestamp
        monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp",
                            lambda self: real(self) - seconds)
        yield
        monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", real)

    return shift


# --- forgot password --------------------------------------------------------------------------

def test_login_page_links_to_forgot_password(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'href="/login/forgot"' in html and "Forgot your password?" in html


def test_the_answer_is_the_same_whether_or_not_an_account_exists(client, make_user, outbox):
    user = make_user()
    known = ask_reset(client, user.email)
    unknown = ask_reset(client, "nobody@example.org")
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"] == "/login/forgot/sent"
    page = client.get("/login/forgot/sent").get_data(as_text=True)
    assert "If that address belongs to an account" in page
    assert [m["To"] for m in outbox()] == [user.email]


@pytest.mark.parametrize("name, greeting", [("Rosa O'Reilly", "Hello Rosa O'Reilly,"),
                                            ("", "Hello,")])
def test_account_emails_greet_the_owner_by_name(app, make_user, outbox, name, greeting):
    """The reset email and the "your password was changed" one, as the invitation does."""
    user = make_user(name=name) if name else make_user()
    if not name:  # make_user gives everyone a name
        with app.app_context():
            from coop.extensions import db

            db.session.get(User, user.id).name = ""
            db.session.commit()
    client = app.test_client()
    ask_reset(client, user.email)
    assert outbox()[-1].get_content().splitlines()[0] == greeting
    set_password(client, link(outbox, RESET, user.email))
    changed = outbox()[-1]
    assert "password was changed" in changed["Subject"]
    assert changed.get_content().splitlines()[0] == greeting


def test_reset_link_life_cycle(app, make_user, outbox):
    user = make_user()
    here, elsewhere = app.test_client(), app.test_client()
    login(elsewhere, user.email, remember="y")
    assert elsewhere.get("/account").status_code == 200
    ask_reset(here, user.email)
    message = outbox()[-1]
    assert message["Reply-To"] == app.config["SOCIETY_EMAIL"]
    assert "1 hour" in message.get_content()
    path = link(outbox, RESET, user.email)
    # GET shows a form and changes nothing
    page = here.get(path)
    assert page.status_code == 200 and "Choose a new password" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert user_row(app, user.email).password_hash == user.password_hash
    # a weak password is refused next to the field, and the link still works
    weak = set_password(here, path, "password2024")
    assert weak.status_code == 422 and "too" in weak.get_data(as_text=True)
    done = set_password(here, path)
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    # every other session is over, remember-me included
    assert elsewhere.get("/account").status_code == 302
    # the owner is told
    changed = outbox()[-1]
    assert changed["To"] == user.email and "password was changed" in changed["Subject"]
    # the link is dead once used
    again = here.get(path)
    assert again.status_code == 404 and "already been used" in again.get_data(as_text=True)
    assert set_password(here, path, "yet another passphrase").status_code == 404
    # and the new password works, the old doesn't
    assert login(app.test_client(), user.email, NEW).status_code == 302
    assert login(app.test_client(), user.email).status_code == 200
    from coop.extensions import db

    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert "user.password_reset" in actions


def test_a_newer_link_kills_the_older_one(client, make_user, outbox):
    user = make_user()
    ask_reset(client, user.email)
    first = link(outbox, RESET, user.email)
    ask_reset(client, user.email)
    second = link(outbox, RESET, user.email)
    assert first != second
    assert client.get(first).status_code == 404
    assert set_password(client, second).status_code == 302


def test_the_link_dies_when_the_password_changes_another_way(app, client, make_user, outbox):
    user = make_user()
    ask_reset(client, user.email)
    path = link(outbox, RESET, user.email)
    member = app.test_client()
    login(member, user.email)
    member.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW,
                                           "confirm": NEW})
    assert client.get(path).status_code == 404


def test_the_link_dies_when_the_member_logs_in(app, client, make_user, outbox):
    user = make_user()
    ask_reset(client, user.email)
    path = link(outbox, RESET, user.email)
    login(app.test_client(), user.email)  # they remembered after all
    assert client.get(path).status_code == 404


def test_an_expired_link_gets_a_calm_page(client, make_user, outbox, past):
    user = make_user()
    with past(3601):
        ask_reset(client, user.email)
    path = link(outbox, RESET, user.email)
    response = client.get(path)
    assert response.status_code == 410
    html = response.get_data(as_text=True)
    assert "expired" in html and 'href="/login/forgot"' in html


def test_the_hour_is_a_setting(make_app, make_user, outbox, past):
    app = make_app(PASSWORD_RESET_MINUTES=120)
    client = app.test_client()
    user = make_user()
    with past(3601):
        ask_reset(client, user.email)
    assert "2 hours" in outbox()[-1].get_content()
    assert client.get(link(outbox, RESET, user.email)).status_code == 200


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-3],                      # truncated
    # forged signature: one character changed, not among the last (base64 padding bits)
    lambda t: t[:-5] + ("A" if t[-5] != "A" else "B") + t[-4:],
    lambda t: "x" * 400,                   # far too long
    lambda t: "garbage",
    lambda t: t.split(".")[0],             # payload only
])
def test_broken_links_get_a_calm_page_never_a_500(client, make_user, outbox, mangle):
    user = make_user()
    ask_reset(client, user.email)
    token = link(outbox, RESET, user.email).rsplit("/", 1)[1]
    for method in ("get", "post"):
        response = getattr(client, method)(f"/login/reset/{mangle(token)}",
                                           data={"new_password": NEW, "confirm": NEW})
        assert response.status_code == 404
        html = response.get_data(as_text=True)
        assert "This link can" in html and user.email not in html


def test_a_link_for_one_account_cannot_be_turned_into_another(app, client, make_user, outbox):
    """The user id is inside the signed payload: changing it breaks the signature; and a
    validly signed token for another id fails the state check."""
    alice, bob = make_user(email="alice@example.org"), make_user(email="bob@example.org")
    ask_reset(client, alice.email)
    token = link(outbox, RESET, alice.email).rsplit("/", 1)[1]
    serializer = itsdangerous.URLSafeTimedSerializer(app.config["SECRET_KEY"],
                                                     salt="coop-password-reset")
    user_id, digest = serializer.loads(token)
    forged = serializer.dumps([bob.id, digest])  # even with the real key, Bob's state differs
    assert client.get(f"/login/reset/{forged}").status_code == 404
    other_key = itsdangerous.URLSafeTimedSerializer("another key " * 4, salt="coop-password-reset")
    assert client.get(f"/login/reset/{other_key.dumps([bob.id, digest])}").status_code == 404
    # and a reset link is not an invitation link
    assert client.get(f"/welcome/{token}").status_code == 404


def test_requests_per_address_are_limited_silently(client, make_user, outbox):
    user = make_user()
    answers = {ask_reset(client, user.email).headers["Location"] for _ in range(5)}
    assert answers == {"/login/forgot/sent"}
    assert len([m for m in outbox() if m["To"] == user.email]) == 3


def test_requests_per_client_address_are_limited(make_app, make_user):
    app = make_app(PASSWORD_RESET_IP_RATE_LIMIT="3 per hour")
    client = app.test_client()
    for i in range(3):
        assert ask_reset(client, f"n{i}@example.org").status_code == 302
    assert ask_reset(client, "n9@example.org").status_code == 429


def test_forgot_form_errors_next_to_the_field(client):
    response = client.post("/login/forgot", data={"email": "not an address"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter an email address like name@example.com." in html
    assert 'value="not an address"' in html


def test_service_sends_nothing_for_unknown_or_deactivated(db):
    admin = services.create_user(db.session, "admin@example.org", PASSWORD, role="admin")
    user = services.create_user(db.session, "a@example.org", PASSWORD)
    services.deactivate(db.session, user, by=admin)
    db.session.commit()
    assert services.request_password_reset(db.session, "nobody@example.org") is False
    assert services.request_password_reset(db.session, "a@example.org") is False
    assert services.request_password_reset(db.session, "Admin@Example.org ") is True


@pytest.mark.parametrize("headers", [
    {"Host": "evil.example"},
    {"X-Forwarded-Host": "evil.example"},
    {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
])
def test_no_header_can_redirect_a_link_in_an_account_email(make_app, make_user, outbox, headers):
    app = make_app(PROXY_FIX=1)
    user = make_user()
    admin = make_user("admin")

    def logged_in(email):
        client = app.test_client()
        login(client, email)
        cookie = client.get_cookie("session")
        client.set_cookie("session", cookie.value, domain="evil.example")
        return client

    ask_reset(app.test_client(), user.email, headers=headers)
    response = logged_in(user.email).post(
        "/account/email", data={"new_email": "moved@example.org", "email_password": PASSWORD},
        headers=headers)
    assert response.status_code == 302
    response = logged_in(admin.email).post(
        "/admin/users", data={"email": "invitee@example.org", "role": "member"}, headers=headers)
    assert response.status_code == 302
    messages = outbox()
    assert {m["To"] for m in messages} == {user.email, "moved@example.org",
                                           "invitee@example.org"}
    for message in messages:
        body = message.get_content()
        assert "evil.example" not in body and "evil.example" not in str(message.items())
        for url in re.findall(r"https?://\S+", body):
            assert url.startswith(BASE + "/"), url


# --- invitations -------------------------------------------------------------------------------

def test_admin_invites_instead_of_choosing_a_password(app, client, login_as, outbox):
    login_as("admin")
    form = client.get("/admin/users").get_data(as_text=True)
    assert "Initial password" not in form and "in person or by phone" not in form
    response = client.post("/admin/users", data={"email": "New.Staff@Example.org",
                                                 "name": "Nia", "role": "staff"})
    assert response.status_code == 302
    user = user_row(app, "new.staff@example.org")
    assert user.role == "staff" and not user.has_usable_password
    message = outbox()[-1]
    assert message["To"] == "new.staff@example.org"
    assert "72 hours" in message.get_content()
    assert "Invited" in client.get("/admin/users").get_data(as_text=True)
    # nobody can log in with any password before the link is used
    assert login(app.test_client(), user.email, user.password_hash).status_code == 200


def test_invitation_life_cycle(app, client, login_as, outbox, past):
    admin = login_as("admin")
    client.post("/admin/users", data={"email": "new@example.org", "role": "member"})
    first = link(outbox, WELCOME, "new@example.org")
    invitee = user_row(app, "new@example.org")
    # re-sent from the list: the first link dies
    assert client.post(f"/admin/users/{invitee.id}/invite").status_code == 302
    second = link(outbox, WELCOME, "new@example.org")
    reader = app.test_client()
    assert reader.get(first).status_code == 404
    page = reader.get(second)
    assert page.status_code == 200 and "Choose your password" in page.get_data(as_text=True)
    assert set_password(reader, second).status_code == 302
    assert reader.get(second).status_code == 404
    # choosing the first password is no change to be warned about
    assert not [m for m in outbox() if m["To"] == "new@example.org"
                and m["Subject"] == "Your password was changed"]
    assert login(reader, "new@example.org", NEW).status_code == 302
    assert "Welcome, " in reader.get("/account").get_data(as_text=True)  # not "back"
    reader.post("/logout")
    assert login(reader, "new@example.org", NEW).status_code == 302
    assert "Welcome back, " in reader.get("/account").get_data(as_text=True)
    # once a password is set, there is nothing to re-send
    client.post(f"/admin/users/{invitee.id}/invite")
    assert "already chosen a password" in client.get("/admin/users").get_data(as_text=True)
    assert admin.email != "new@example.org"


def test_invitation_expires_after_the_setting(make_app, make_user, outbox, past):
    app = make_app(INVITATION_HOURS=1)
    from coop.extensions import db

    with app.app_context(), past(3601):
        services.invite_user(db.session, "late@example.org")
        db.session.commit()
    response = app.test_client().get(link(outbox, WELCOME, "late@example.org"))
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)


def test_invite_user_service(db, outbox):
    """The membership feature calls this when a member is admitted."""
    user = services.invite_user(db.session, "Member@Example.org", name="Mo", role="member")
    db.session.commit()
    assert user.email == "member@example.org" and user.name == "Mo"
    assert not user.has_usable_password
    assert len(outbox()) == 1
    # again while the invitation is open: a new link, nothing else changes
    same = services.invite_user(db.session, "member@example.org", name="Other", role="staff")
    db.session.commit()
    assert same.id == user.id and same.name == "Mo" and same.role == "member"
    assert len(outbox()) == 2
    # an account with a password is left alone
    existing = services.create_user(db.session, "has@example.org", PASSWORD)
    db.session.commit()
    assert services.invite_user(db.session, "has@example.org") is existing
    db.session.commit()
    assert len(outbox()) == 2
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert actions.count("user.invited") == 2


def test_forgot_password_for_an_invited_account_sends_a_fresh_invitation(client, db, outbox):
    services.invite_user(db.session, "inv@example.org")
    db.session.commit()
    ask_reset(client, "inv@example.org")
    path = link(outbox, WELCOME, "inv@example.org")
    assert client.get(path).status_code == 200


def test_cli_create_user_invites(runner, app, outbox):
    result = runner.invoke(args=["create-user", "Boss@Example.org", "--role", "admin"])
    assert result.exit_code == 0, result.output
    assert "sent an invitation" in result.output
    assert outbox()[-1]["To"] == "boss@example.org"
    assert WELCOME.search(outbox()[-1].get_content())


# --- email change: single use ---------------------------------------------------------------

def test_email_change_link_cannot_be_replayed_after_moving_back(app, client, login_as, outbox):
    user = login_as("member")
    client.post("/account/email", data={"new_email": "b@example.org", "email_password": PASSWORD})
    a_to_b = link(outbox, CONFIRM, "b@example.org")
    assert client.post(a_to_b).status_code == 302
    client.post("/account/email", data={"new_email": user.email, "email_password": PASSWORD})
    b_to_a = link(outbox, CONFIRM, user.email)
    assert client.post(b_to_a).status_code == 302
    assert user_row(app, user.email) is not None
    # the first link again: it names the right old address, but its nonce is gone
    replay = client.post(a_to_b)
    assert replay.status_code == 404
    assert user_row(app, user.email) is not None


def test_a_newer_email_change_kills_the_older_link(client, login_as, outbox):
    login_as("member")
    client.post("/account/email", data={"new_email": "one@example.org",
                                        "email_password": PASSWORD})
    first = link(outbox, CONFIRM, "one@example.org")
    client.post("/account/email", data={"new_email": "two@example.org",
                                        "email_password": PASSWORD})
    assert client.get(first).status_code == 404
    assert client.get(link(outbox, CONFIRM, "two@example.org")).status_code == 200


def test_the_old_address_is_told_how_to_get_help(app, client, login_as, outbox):
    user = login_as("member")
    client.post("/account/email", data={"new_email": "new@example.org",
                                        "email_password": PASSWORD})
    client.post(link(outbox, CONFIRM, "new@example.org"))
    told = outbox()[-1]
    assert told["To"] == user.email and told["Reply-To"] == app.config["SOCIETY_EMAIL"]
    body = told.get_content()
    assert "new@example.org" in body and app.config["SOCIETY_EMAIL"] in body
    assert app.config["SOCIETY_PHONE"] in body


def test_pending_email_is_shown_on_the_account_page(client, login_as, outbox):
    login_as("member")
    client.post("/account/email", data={"new_email": "pend@example.org",
                                        "email_password": PASSWORD})
    html = client.get("/account").get_data(as_text=True)
    assert "waiting for you to confirm the change to pend@example.org" in html


def test_the_forgot_page_does_the_same_work_for_every_address_and_the_queue_the_rest(
        make_app, outbox, tmp_path):
    """The request only queues the address: no look-up, no row written, one task, whether or
    not an account has it (how long the page takes can't tell). The worker sends the link."""
    from coop import tasks
    from coop.extensions import db

    app = make_app(TASKS_IMMEDIATE=False, TASKS_SQLITE_PATH=str(tmp_path / "tasks.sqlite3"),
                   RATELIMIT_ENABLED=False)
    with app.app_context():
        services.create_user(db.session, "known@example.org", PASSWORD)
        db.session.commit()
    client = app.test_client()
    statements = []

    def note(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        for address in ("known@example.org", "nobody@example.org"):
            assert ask_reset(client, address).headers["Location"] == "/login/forgot/sent"
    finally:
        with app.app_context():
            sa.event.remove(db.engine, "before_cursor_execute", note)
    assert statements == []  # neither request touched the database
    assert outbox() == []
    queued = tasks.huey.pending()
    assert [task.args for task in queued] == [("known@example.org",), ("nobody@example.org",)]
    with app.app_context():
        # the worker: the resets, then the delivery of what they put in the outbox
        while (task := tasks.huey.dequeue()) is not None:
            tasks.huey.execute(task)
    [message] = outbox()
    assert message["To"] == "known@example.org"
    assert app.config["BASE_URL"] + "/login/reset/" in message.get_body(
        preferencelist=("plain",)).get_content()


def test_email_change_allows_five_links_an_hour_per_account_and_typos_are_free(
        app, make_user, outbox):
    """Mistakes (a wrong password, a blank or refused address) don't use the allowance; the
    sixth link in an hour is refused next to the field with what was typed kept; another
    account behind the same address has its own five."""
    user, neighbour = make_user(), make_user()
    client = app.test_client()
    login(client, user.email)
    for data in ({"new_email": "", "email_password": PASSWORD},
                 {"new_email": "typo@example.org", "email_password": "wrong"},
                 {"new_email": user.email, "email_password": PASSWORD}) * 3:
        assert client.post("/account/email", data=data).status_code in (422, 200)
    for n in range(5):
        response = client.post("/account/email", data={"new_email": f"new{n}@example.org",
                                                        "email_password": PASSWORD})
        assert response.status_code == 302, n
    refused = client.post("/account/email", data={"new_email": "sixth@example.org",
                                                   "email_password": PASSWORD})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert 'id="new_email-error"' in html and "asked for 5 links" in html
    assert 'value="sixth@example.org"' in html
    assert not [m for m in outbox() if m["To"] == "sixth@example.org"]
    other = app.test_client()  # same address (the test client's), another account
    login(other, neighbour.email)
    assert other.post("/account/email", data={"new_email": "elsewhere@example.org",
                                              "email_password": PASSWORD}).status_code == 302


def test_email_change_posts_of_any_kind_stop_at_twenty_an_hour(app, make_user):
    """Posts sent at once all pass the five-links check before any is counted: every post
    also counts against twenty."""
    user = make_user()
    client = app.test_client()
    login(client, user.email)
    for n in range(20):
        assert client.post("/account/email", data={"new_email": "", "email_password": ""}
                           ).status_code == 422, n
    refused = client.post("/account/email", data={"new_email": "late@example.org",
                                                   "email_password": PASSWORD})
    assert refused.status_code == 429
    assert "sent 20 times in the last hour" in refused.get_data(as_text=True)


def test_deactivating_kills_a_link_for_good(app, client, login_as, outbox):
    """Deactivating then reactivating an account brought its invitation (or reset) link back
    to life (security review): the link's state digest included only ``active``."""
    login_as("admin")
    client.post("/admin/users", data={"email": "new@example.org", "role": "member"})
    invitation = link(outbox, WELCOME, "new@example.org")
    invitee = user_row(app, "new@example.org")
    reader = app.test_client()
    assert reader.get(invitation).status_code == 200
    assert client.post(f"/admin/users/{invitee.id}/deactivate",
                       data={"confirm": "y"}).status_code == 302
    assert reader.get(invitation).status_code == 404
    response = client.post(f"/admin/users/{invitee.id}/reactivate", follow_redirects=True)
    assert "Their invitation link stopped working" in response.get_data(as_text=True)
    assert reader.get(invitation).status_code == 404
    assert set_password(reader, invitation).status_code == 404
    assert not user_row(app, "new@example.org").has_usable_password
    # a new invitation works
    client.post(f"/admin/users/{invitee.id}/invite")
    assert reader.get(link(outbox, WELCOME, "new@example.org")).status_code == 200


def deactivate_then_reactivate(app, user, *, by) -> None:
    from coop.extensions import db

    with app.app_context():
        account, admin = db.session.get(User, user.id), db.session.get(User, by.id)
        services.deactivate(db.session, account, by=admin)
        services.reactivate(db.session, account, by=admin)
        db.session.commit()


def test_a_password_reset_link_dies_with_deactivation_too(app, client, make_user, outbox):
    user = make_user(email="rosa@example.org")
    admin = make_user("admin")
    ask_reset(client, "rosa@example.org")
    reset = link(outbox, RESET, "rosa@example.org")
    deactivate_then_reactivate(app, user, by=admin)
    assert client.get(reset).status_code == 404
    assert login(app.test_client(), "rosa@example.org").status_code == 302


def test_an_email_change_link_dies_with_deactivation_too(app, client, login_as, make_user,
                                                          outbox):
    """Review: a change of address asked for before a deactivation could be confirmed after
    the reactivation, moving the account to the address asked."""
    user = login_as("member", email="rosa@example.org")
    admin = make_user("admin")
    client.post("/account/email", data={"new_email": "someone.else@example.org",
                                        "email_password": PASSWORD})
    change = link(outbox, CONFIRM, "someone.else@example.org")
    deactivate_then_reactivate(app, user, by=admin)
    reader = app.test_client()
    assert reader.get(change).status_code == 404
    assert reader.post(change).status_code == 404
    assert user_row(app, "rosa@example.org") is not None
    assert user_row(app, "someone.else@example.org") is None
