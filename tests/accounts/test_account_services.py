"""Account-page rules without HTTP: name, email-change tokens, export, deletion."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from coop.accounts import services
from coop.accounts.models import LoginFailure, User
from coop.audit import AuditEvent
from tests.conftest import PASSWORD

SECRET = "s" * 40
DAY = dt.timedelta(days=1)


@pytest.fixture
def member(db):
    user = services.create_user(db.session, "m@example.org", PASSWORD, name="Mo")
    db.session.commit()
    return user


def test_change_name_audited_only_when_changed(db, member):
    assert services.change_name(db.session, member, " Mo ") is False
    assert services.change_name(db.session, member, "Maureen") is True
    assert member.name == "Maureen"
    events = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert events == ["user.name_changed"]


def test_email_change_token_works_once(db, member):
    services.request_email_change(db.session, member, "New@Example.org")
    token = services.email_change_token(SECRET, member, "New@Example.org")
    user, new = services.read_email_change_token(db.session, SECRET, token, max_age=DAY)
    assert user.id == member.id and new == "new@example.org"
    user, old = services.apply_email_change(db.session, SECRET, token, max_age=DAY)
    assert old == "m@example.org" and member.email == "new@example.org"
    with pytest.raises(services.LinkProblem):
        services.apply_email_change(db.session, SECRET, token, max_age=DAY)


def test_email_change_token_refuses_tampering_and_other_keys(db, member):
    services.request_email_change(db.session, member, "x@example.org")
    token = services.email_change_token(SECRET, member, "x@example.org")
    with pytest.raises(services.LinkProblem):
        services.read_email_change_token(db.session, "another-secret" * 3, token, max_age=DAY)
    # one character of the signature changed (not the last: its low bits are base64 padding,
    # so a changed last character can decode to the same signature, as "xx" once did in CI)
    changed = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(services.LinkProblem):
        services.read_email_change_token(db.session, SECRET, changed, max_age=DAY)
    with pytest.raises(services.LinkExpired):
        services.read_email_change_token(db.session, SECRET, token, max_age=dt.timedelta(
            seconds=-1))


def test_email_change_refused_when_taken_meanwhile(db, member):
    services.request_email_change(db.session, member, "taken@example.org")
    token = services.email_change_token(SECRET, member, "taken@example.org")
    services.create_user(db.session, "taken@example.org", PASSWORD)
    with pytest.raises(services.EmailTaken):
        services.apply_email_change(db.session, SECRET, token, max_age=DAY)
    assert member.email == "m@example.org"


def test_export_account_has_no_secrets(member):
    data = services.export_account(member)
    assert data["email"] == "m@example.org" and data["name"] == "Mo"
    assert not {"password_hash", "session_token"} & set(data)


def test_delete_account_checks_then_anonymises_then_deletes(db, member):
    calls = []
    with pytest.raises(services.InvalidCredentials):
        services.delete_account(db.session, member, "wrong", ip="1.2.3.4",
                                anonymise=lambda: calls.append(1))
    assert calls == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure).where(
        LoginFailure.scope == "login")) == 1
    member_id = member.id
    services.delete_account(db.session, member, PASSWORD, ip="1.2.3.5",
                            anonymise=lambda: calls.append(1))
    db.session.commit()
    assert calls == [1]
    assert db.session.get(User, member_id) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure).where(
        LoginFailure.scope == "login")) == 0
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.deleted"))
    assert event.subject_id == str(member_id) and event.actor_id is None


def test_last_admin_cannot_be_deleted(db):
    admin = services.create_user(db.session, "a@example.org", PASSWORD, role="admin")
    db.session.commit()  # the throttle counts in a transaction of its own
    with pytest.raises(services.AccountError, match="last active admin"):
        services.delete_account(db.session, admin, PASSWORD, ip="1.2.3.4")
    services.create_user(db.session, "b@example.org", PASSWORD, role="admin")
    db.session.commit()
    services.delete_account(db.session, admin, PASSWORD, ip="1.2.3.4")
