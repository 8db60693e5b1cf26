"""The member's /account page: name, email with re-confirmation, newsletter topics, download
my data, delete my account (with other features' hooks), all audited."""

from __future__ import annotations

import html
import json
import re

import pytest
import sqlalchemy as sa

from coop.accounts.models import User
from coop.audit import AuditEvent
from tests.conftest import PASSWORD, delete_my_account, login

LINK = re.compile(r"http://127.0.0.1:5000(/account/email/confirm/\S+)")
NEWSLETTER_CONFIRM = re.compile(r"/newsletter/confirm/([A-Za-z0-9_\-]+)")


def actions(app) -> list[str]:
    from coop.extensions import db

    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def user_row(app, user_id):
    from coop.extensions import db

    with app.app_context():
        user = db.session.get(User, user_id)
        if user is not None:
            db.session.expunge(user)
        return user


def test_account_page_has_every_part(client, login_as):
    login_as("member")
    html = client.get("/account").get_data(as_text=True)
    for text in ("Your details", "Change your name", "Change your email", "Newsletter",
                 "Download my data", "Delete your account"):
        assert text in html
    assert html.count("<h1>") == 1


def test_change_name(app, client, login_as):
    user = login_as("member")
    response = client.post("/account/name", data={"name": "  Rosa Luxemburg "})
    assert response.status_code == 302
    assert user_row(app, user.id).name == "Rosa Luxemburg"
    assert "Rosa Luxemburg" in client.get("/account").get_data(as_text=True)
    too_long = client.post("/account/name", data={"name": "x" * 201})
    assert too_long.status_code == 422
    assert "A name can be at most 200 characters." in too_long.get_data(as_text=True)
    assert "user.name_changed" in actions(app)


def test_change_email_needs_confirmation_from_the_new_address(app, client, login_as, outbox):
    user = login_as("member")
    response = client.post("/account/email", data={"new_email": "New@Example.org",
                                                   "email_password": PASSWORD})
    assert response.status_code == 302
    assert user_row(app, user.id).email == user.email  # not yet
    message = outbox()[-1]
    assert message["To"] == "new@example.org"
    path = LINK.search(message.get_content()).group(1)
    # a GET (a mail scanner) changes nothing
    page = client.get(path)
    assert page.status_code == 200 and "new@example.org" in page.get_data(as_text=True)
    assert user_row(app, user.id).email == user.email
    done = client.post(path)
    assert done.status_code == 302
    assert user_row(app, user.id).email == "new@example.org"
    # the old address is told
    assert outbox()[-1]["To"] == user.email
    # used once only
    again = client.post(path)
    assert again.status_code == 404
    assert "already been used" in again.get_data(as_text=True)
    # review: not the password links' "If you have just chosen a password with it"
    assert "the change is made" in again.get_data(as_text=True)
    assert "password" not in again.get_data(as_text=True).split("<main")[1].split("</main>")[0]
    assert "user.email_changed" in actions(app)
    # and the new address logs in
    client.post("/logout")
    assert login(client, "new@example.org").status_code == 302


def test_change_email_wrong_password_or_bad_address(client, login_as, outbox):
    login_as("member")
    wrong = client.post("/account/email", data={"new_email": "x@example.org",
                                                "email_password": "not my password"})
    assert wrong.status_code == 422
    assert "That isn&#39;t your password." in wrong.get_data(as_text=True)
    bad = client.post("/account/email", data={"new_email": "nope", "email_password": PASSWORD})
    assert bad.status_code == 422
    assert "Enter an email address like name@example.com." in bad.get_data(as_text=True)
    assert outbox() == []


def test_change_to_a_taken_address_reveals_nothing(client, login_as, make_user, outbox):
    other = make_user("member", email="taken@example.org")
    login_as("member")
    response = client.post("/account/email", data={"new_email": other.email,
                                                   "email_password": PASSWORD})
    assert response.status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert "We&#39;ve sent a link to taken@example.org" in page
    message = outbox()[-1]
    assert message["To"] == other.email
    assert "/account/email/confirm/" not in message.get_content()
    # the page afterwards reads as for a free address (a security review: the "waiting"
    # line showed only for a free one, telling which addresses have an account)
    free = make_user("member", email="mo@example.org")
    asker = client.application.test_client()
    login(asker, free.email)
    asker.post("/account/email", data={"new_email": "free@example.org",
                                       "email_password": PASSWORD})
    mine = asker.get("/account").get_data(as_text=True)
    assert "(waiting for you to confirm the change to free@example.org)" in mine
    assert "(waiting for you to confirm the change to taken@example.org)" in page
    # asking for a taken address kills the earlier link to a free one, as any new ask does
    link = re.search(r"(/account/email/confirm/\S+)", outbox()[-1].get_content()).group(1)
    asker.post("/account/email", data={"new_email": other.email, "email_password": PASSWORD})
    assert asker.post(link).status_code == 404


def test_email_link_refused_if_the_address_was_taken_meanwhile(app, client, login_as,
                                                                make_user, outbox):
    login_as("member")
    client.post("/account/email", data={"new_email": "later@example.org",
                                        "email_password": PASSWORD})
    path = LINK.search(outbox()[-1].get_content()).group(1)
    make_user("member", email="later@example.org")
    response = client.post(path)
    assert response.status_code == 409
    assert "Another account now uses that address" in response.get_data(as_text=True)


@pytest.mark.parametrize("token", ["garbage", "x" * 700, "eyJ1IjoxfQ.bad.sig"])
def test_bad_email_tokens_are_clear_pages(client, token):
    response = client.get(f"/account/email/confirm/{token}")
    assert response.status_code == 404
    assert "This link can" in response.get_data(as_text=True)


def test_expired_email_token(make_app, make_user, outbox):
    app = make_app(EMAIL_CHANGE_HOURS=0)
    user = make_user("member")
    client = app.test_client()
    login(client, user.email)
    client.post("/account/email", data={"new_email": "n@example.org",
                                        "email_password": PASSWORD})
    path = LINK.search(outbox()[-1].get_content()).group(1)
    import time

    time.sleep(1.1)  # itsdangerous timestamps have one-second resolution
    response = client.post(path)
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)


def test_newsletter_from_the_account_page(app, client, login_as, outbox):
    user = login_as("member")
    response = client.post("/account/newsletter", data={"topics": ["events"]})
    assert response.status_code == 302
    token = NEWSLETTER_CONFIRM.search(outbox()[-1].get_content()).group(1)
    assert "We&#39;ve sent a link" in client.get("/account").get_data(as_text=True)
    client.post(f"/newsletter/confirm/{token}")
    html = client.get("/account").get_data(as_text=True)
    assert f"You're subscribed at {user.email}" in html
    client.post("/account/newsletter", data={"topics": ["events", "appeals"]})
    from coop.extensions import db
    from coop.newsletter import services

    with app.app_context():
        assert services.get_by_email(db.session, user.email).topic_keys == ["appeals", "events"]
    client.post("/account/newsletter", data={"action": "unsubscribe"})
    with app.app_context():
        assert services.get_by_email(db.session, user.email).status == "unsubscribed"


def test_newsletter_on_the_account_page_keeps_a_refused_choice_and_says_what_was_sent(
        app, client, login_as, outbox):
    """No topic ticked: the message is beside the boxes, which stay as they were sent (none).
    Sending again within the hour sends no second link, and the page says so."""
    login_as("member")
    refused = client.post("/account/newsletter", data={})
    assert refused.status_code == 422
    page = html.unescape(refused.get_data(as_text=True))
    assert "Choose at least one topic." in page
    assert 'href="#newsletter-topics' in page  # the error summary leads to the boxes
    section = page[page.index('id="newsletter-heading"'):]
    assert "checked" not in section[:section.index("</form>")]
    assert "Your account" in page  # the whole /account page, drawn again
    assert outbox() == []

    client.post("/account/newsletter", data={"topics": ["events", "appeals"]})
    assert len(outbox()) == 1
    again = client.post("/account/newsletter", data={"topics": ["events"]},
                        follow_redirects=True)
    text = html.unescape(again.get_data(as_text=True))
    assert "no new one was sent: opening that link subscribes you to the topics ticked now" \
        in text
    assert len(outbox()) == 1


def test_download_my_data(app, client, login_as, outbox):
    user = login_as("member", name="Ann Reader")
    client.post("/account/newsletter", data={"topics": ["events"]})
    assert client.get("/account/data").status_code == 303  # led to /account: no download
    response = client.post("/account/data")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["account"]["email"] == user.email
    assert data["account"]["name"] == "Ann Reader"
    assert "password_hash" not in json.dumps(data)
    assert data["newsletter"]["status"] == "pending"
    assert data["newsletter"]["consents"][0]["source"] == "account"
    assert "share_enquiries" in data  # from the shares feature's hook
    assert len(data["sessions"]) == 1 and data["sessions"][0]["device"]
    assert data["account"]["two_factor_enabled"] is False
    assert "user.data_exported" in actions(app)


def test_delete_account_needs_password_and_runs_hooks(app, client, login_as, outbox):
    user = login_as("member")
    assert "cancels your places at events to come" in client.get("/account").get_data(
        as_text=True)  # said before anyone deletes (QA)
    client.post("/account/newsletter", data={"topics": ["events"]})
    wrong = client.post("/account/delete", data={"delete_password": "wrong", "understood": "y"})
    assert wrong.status_code == 422
    assert "That isn&#39;t your password." in wrong.get_data(as_text=True)
    assert not [m for m in outbox() if "deleted" in m["Subject"]]  # refused: nobody is told
    unticked = client.post("/account/delete", data={"delete_password": PASSWORD})
    assert unticked.status_code == 422
    assert user_row(app, user.id) is not None
    assert not [m for m in outbox() if "deleted" in m["Subject"]]  # refused: nobody is told
    response = delete_my_account(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    [told] = [m for m in outbox() if m["Subject"].startswith("Your account was deleted")]
    assert told["To"] == user.email
    assert "If you didn't do this, someone else had your password" in told.get_content()
    assert user_row(app, user.id) is None
    from coop.extensions import db
    from coop.newsletter import services

    with app.app_context():
        assert services.get_by_email(db.session, user.email) is None
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.deleted"))
        assert event.subject_id == str(user.id) and user.email not in json.dumps(event.details)
    # logged out
    assert client.get("/account").status_code == 302
    assert login(client, user.email).status_code == 200


def test_last_admin_cannot_delete_their_account(app, client, login_as):
    admin = login_as("admin")
    response = delete_my_account(client)
    assert response.status_code == 422
    assert "last active admin" in response.get_data(as_text=True)
    assert user_row(app, admin.id) is not None


def test_newsletter_subscription_follows_a_confirmed_email_change(app, client, login_as, outbox):
    from coop.extensions import db
    from coop.newsletter import services

    user = login_as("member")
    client.post("/account/newsletter", data={"topics": ["events"]})
    token = NEWSLETTER_CONFIRM.search(outbox()[-1].get_content()).group(1)
    client.post(f"/newsletter/confirm/{token}")
    client.post("/account/email", data={"new_email": "moved@example.org",
                                        "email_password": PASSWORD})
    path = LINK.search(outbox()[-1].get_content()).group(1)
    client.post(path)
    with app.app_context():
        assert services.get_by_email(db.session, user.email) is None
        moved = services.get_by_email(db.session, "moved@example.org")
        assert moved.status == "confirmed" and moved.topic_keys == ["events"]


def test_a_pending_newsletter_subscription_moves_unconfirmed_with_the_email(
        app, client, login_as, outbox):
    """QA: the account page then said "We've sent a link to <new address>", but the only
    link had gone to the old one (and still confirmed)."""
    from coop.extensions import db
    from coop.newsletter import services

    login_as("member")
    client.post("/account/newsletter", data={"topics": ["events"]})
    old_link = NEWSLETTER_CONFIRM.search(outbox()[-1].get_content()).group(1)
    client.post("/account/email", data={"new_email": "moved@example.org",
                                        "email_password": PASSWORD})
    client.post(LINK.search(outbox()[-1].get_content()).group(1))
    page = html.unescape(client.get("/account").get_data(as_text=True))
    assert "We've sent a link to moved@example.org: open it to confirm" not in page
    assert ("Your subscription isn't confirmed yet. Press “Subscribe” and we'll email "
            "moved@example.org a link to confirm it.") in page
    assert client.post(f"/newsletter/confirm/{old_link}").status_code != 302
    client.post("/account/newsletter", data={"topics": ["events"]})
    message = outbox()[-1]
    assert message["To"] == "moved@example.org"
    client.post(f"/newsletter/confirm/{NEWSLETTER_CONFIRM.search(message.get_content()).group(1)}")
    with app.app_context():
        assert services.get_by_email(db.session, "moved@example.org").status == "confirmed"


def test_account_emails_read_well_with_a_site_name_beginning_the(make_app):
    """"your The People's Paper account" read badly: each says "your account on The
    People's Paper" (or "the Morning Star" for a name without "The")."""
    import pathlib

    from flask import render_template

    app = make_app(SITE_NAME="The People's Paper")
    folder = pathlib.Path(app.root_path).parent / "templates" / "accounts" / "email"
    with app.test_request_context():
        for path in sorted(folder.glob("*.txt")):
            if path.name.startswith("_"):
                continue
            text = render_template(f"accounts/email/{path.name}", name="Ann", when="today",
                                   new="new@example.org", old="member", url="http://x/y",
                                   link="http://x/y", code="123456", user=None)
            for bad in ("your The", "a The", "their The", "an The"):
                assert bad not in text, (path.name, bad)
        text = render_template("accounts/email/password_changed.txt", name="Ann",
                               when="today")
        assert "your account on The People's Paper" in text


def test_another_accounts_email_link_opened_while_logged_in_says_whose_it_is(
        app, make_user, outbox):
    """QA: Mo, logged in, opened Rosa's link; the page read as if it changed Mo's account, and
    Mo's page then said "Your account's email is now rosa.new@…" above Mo's own address."""
    rosa, mo = make_user("member", email="rosa@example.org"), make_user("member",
                                                                       email="mo@example.org")
    rosas = app.test_client()
    login(rosas, rosa.email)
    rosas.post("/account/email", data={"new_email": "rosa.new@example.org",
                                       "email_password": PASSWORD})
    path = LINK.search(outbox()[-1].get_content()).group(1)
    mos = app.test_client()
    login(mos, mo.email)
    page = html.unescape(mos.get(path).get_data(as_text=True))
    assert "from rosa@example.org to <strong>rosa.new@example.org</strong>" in page
    assert "This link is for a different account</strong> from the one logged in here " \
           "(mo@example.org), which it doesn't change." in page
    shown = html.unescape(mos.post(path, follow_redirects=True).get_data(as_text=True))
    assert user_row(app, rosa.id).email == "rosa.new@example.org"
    assert user_row(app, mo.id).email == "mo@example.org"
    assert "Your account's email is now" not in shown
    assert "The account's email is now rosa.new@example.org. You're still logged in as " \
           "mo@example.org" in shown


def test_emails_about_what_an_admin_did_dont_ask_if_it_was_you(app, client, login_as,
                                                                make_user, outbox):
    """QA: the invitation and the two-step reset (things an admin did) ended "If this wasn't
    you"."""
    login_as("admin")
    client.post("/admin/users", data={"email": "new.staff@example.org", "name": "New",
                                      "role": "staff"})
    [invitation] = outbox()
    text = invitation.get_body(preferencelist=("plain",)).get_content()
    assert "wasn't you" not in text
    assert "If you didn't expect this email, or you need help, reply" in " ".join(text.split())


def test_newsletter_unsubscribe_and_back_from_the_account_page(app, client, login_as, outbox):
    """Confirmed, then unsubscribed: subscribing again sends a link at once (QA). Doing it
    again before using that link sends none, and the page says when to ask (review)."""
    import re as _re

    login_as("member", email="mo@example.org")
    client.post("/account/newsletter", data={"topics": ["events"]})
    link = _re.search(r"(/newsletter/confirm/\S+)", outbox()[-1].get_content()).group(1)
    confirm_page = client.get(link).get_data(as_text=True)
    token = _re.search(r'name="csrf_token"[^>]*value="([^"]+)"', confirm_page)
    client.post(link, data={"csrf_token": token.group(1)} if token else {})
    for _ in range(2):
        client.post("/account/newsletter", data={"action": "unsubscribe"})
        page = html.unescape(client.post("/account/newsletter", data={"topics": ["events"]},
                                         follow_redirects=True).get_data(as_text=True))
    assert len(outbox()) == 2
    assert "we send at most one link every 60 minutes: ask again after" in page
