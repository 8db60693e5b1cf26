"""Account rules without HTTP: passwords, throttling, roles, deactivation."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from coop.accounts import passwords, services
from coop.accounts.models import LoginFailure, Role, User
from tests.conftest import PASSWORD


def test_password_is_hashed_with_argon2id(db):
    user = services.create_user(db.session, "Reader@Example.org ", PASSWORD)
    assert user.email == "reader@example.org"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


@pytest.mark.parametrize("password,message", [
    ("short", "at least 10"),
    ("password123", "too common"),
    ("morningstar", "too common"),
    ("aaaaaaaaaaaa", "too common"),
    ("reader12345", "email address"),
])
def test_weak_passwords_are_refused(db, password, message):
    with pytest.raises(services.WeakPassword, match=message):
        services.create_user(db.session, "reader@example.org", password)


def test_duplicate_email_is_refused(db):
    services.create_user(db.session, "a@example.org", PASSWORD)
    with pytest.raises(services.EmailTaken):
        services.create_user(db.session, "A@EXAMPLE.ORG", PASSWORD)


def test_unknown_role_is_refused(db):
    with pytest.raises(services.AccountError, match="Unknown role"):
        services.create_user(db.session, "a@example.org", PASSWORD, role="owner")


def test_role_hierarchy(db):
    admin = services.create_user(db.session, "a@example.org", PASSWORD, role="admin")
    staff = services.create_user(db.session, "s@example.org", PASSWORD, role="staff")
    member = services.create_user(db.session, "m@example.org", PASSWORD)
    assert admin.has_role("staff") and admin.has_role("member")
    assert staff.has_role("member") and not staff.has_role("admin")
    assert not member.has_role("staff")


def test_authenticate_wrong_password_and_unknown_email_look_the_same(db):
    services.create_user(db.session, "a@example.org", PASSWORD)
    db.session.commit()
    with pytest.raises(services.InvalidCredentials) as wrong:
        services.authenticate(db.session, "a@example.org", "wrong password!", ip="1.1.1.1")
    with pytest.raises(services.InvalidCredentials) as unknown:
        services.authenticate(db.session, "nobody@example.org", PASSWORD, ip="1.1.1.2")
    assert str(wrong.value) == str(unknown.value)


def test_four_failures_then_the_right_password_clears_the_pair(db):
    services.create_user(db.session, "a@example.org", PASSWORD)
    db.session.commit()
    for _ in range(4):
        with pytest.raises(services.InvalidCredentials):
            services.authenticate(db.session, "a@example.org", "nope nope nope", ip="1.2.3.4")
    assert services.authenticate(db.session, "a@example.org", PASSWORD, ip="1.2.3.4")
    # a success clears the pair's counter and gives the address its tries back
    pair = db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure).where(
        LoginFailure.scope == "login"))
    address = db.session.scalar(sa.select(LoginFailure.failures).where(
        LoginFailure.scope == "ip", LoginFailure.ip == "1.2.3.4"))
    assert pair == 0 and address == 4


def test_deactivated_user_cannot_authenticate(db):
    admin = services.create_user(db.session, "admin@example.org", PASSWORD, role="admin")
    user = services.create_user(db.session, "a@example.org", PASSWORD)
    services.deactivate(db.session, user, by=admin)
    db.session.commit()
    with pytest.raises(services.InvalidCredentials):
        services.authenticate(db.session, "a@example.org", PASSWORD, ip="1.2.3.4")


def test_rehash_on_login_when_parameters_change(db, monkeypatch):
    user = services.create_user(db.session, "a@example.org", PASSWORD)
    old_hash = user.password_hash
    db.session.commit()
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=2, memory_cost=2048,
                                                              parallelism=1))
    services.authenticate(db.session, "a@example.org", PASSWORD, ip="1.2.3.4")
    assert user.password_hash != old_hash
    assert "m=2048,t=2" in user.password_hash


def test_password_change_checks_the_old_one_and_ends_other_sessions(db, outbox):
    from coop.accounts import sessions

    user = services.create_user(db.session, "a@example.org", PASSWORD)
    _, here = sessions.start(db.session, user, device="Firefox on Linux", remember=False)
    _, there = sessions.start(db.session, user, device="Safari on iPhone", remember=True)
    db.session.commit()
    with pytest.raises(services.InvalidCredentials):
        services.change_password(db.session, user, "not my password", "a brand new passphrase",
                                 ip="1.2.3.4")
    services.change_password(db.session, user, PASSWORD, "a brand new passphrase", ip="1.2.3.4",
                             keep_session_id=here.id)
    db.session.commit()
    assert passwords.verify_password(user.password_hash, "a brand new passphrase")
    assert [s.id for s in sessions.live_sessions(db.session, user)] == [here.id]
    assert outbox()[-1]["Subject"].startswith("Your password was changed")


def test_last_admin_cannot_be_demoted_or_deactivated(db):
    admin = services.create_user(db.session, "admin@example.org", PASSWORD, role="admin")
    other = services.create_user(db.session, "other@example.org", PASSWORD, role="staff")
    with pytest.raises(services.AccountError, match="last active admin"):
        services.set_role(db.session, admin, "staff", by=None)  # the command line
    with pytest.raises(services.AccountError, match="can't change your own role"):
        services.set_role(db.session, admin, "staff", by=admin)
    assert services.set_role(db.session, other, "admin", by=admin) is True
    assert services.set_role(db.session, other, "admin", by=admin) is False  # already
    services.set_role(db.session, admin, "staff", by=other)
    assert admin.role == Role.STAFF


def test_deactivate_ends_sessions_and_is_audited(db):
    from coop.accounts import sessions
    from coop.audit import AuditEvent

    admin = services.create_user(db.session, "admin@example.org", PASSWORD, role="admin")
    user = services.create_user(db.session, "a@example.org", PASSWORD)
    token, _ = sessions.start(db.session, user, device="x", remember=True)
    assert sessions.load(db.session, token) is user
    services.deactivate(db.session, user, by=admin)
    assert not user.active and sessions.load(db.session, token) is None
    assert sessions.live_sessions(db.session, user) == []
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "user.deactivated")
    ).one()
    assert event.actor_id == admin.id and event.subject_id == str(user.id)
    with pytest.raises(services.AccountError):
        services.deactivate(db.session, admin, by=admin)


def test_created_at_is_aware_utc(db):
    user = services.create_user(db.session, "a@example.org", PASSWORD)
    db.session.commit()
    db.session.expire_all()
    fresh = db.session.get(User, user.id)
    assert fresh.created_at.tzinfo is not None
    assert fresh.created_at.utcoffset() == dt.timedelta(0)


def test_an_invited_account_costs_a_real_password_check(db, monkeypatch):
    """An account with no password yet answered a login 20 times faster than one with a
    password, or none (security review): its unusable hash was refused without argon2's work.
    Each attempt now checks a real hash, whatever the address."""
    checked = []
    real = passwords._hasher

    class Spy:
        def verify(self, password_hash, password):
            checked.append(password_hash)
            return real.verify(password_hash, password)

        def __getattr__(self, name):
            return getattr(real, name)

    services.create_user(db.session, "invited@example.org", None)
    services.create_user(db.session, "set@example.org", PASSWORD)
    db.session.commit()
    monkeypatch.setattr(passwords, "_hasher", Spy())
    for email in ("invited@example.org", "nobody@example.org", "set@example.org"):
        checked.clear()
        with pytest.raises(services.InvalidCredentials):
            services.authenticate(db.session, email, "a wrong password", ip="1.2.3.4")
        assert sum(h.startswith("$argon2id$") for h in checked) == 1, (email, checked)
