"""Account rules without HTTP: passwords, throttling, roles, deactivation."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from coop.accounts import passwords, services
from coop.accounts.models import LoginFailure, Role, User
from coop.db import now_utc
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
    with pytest.raises(services.InvalidCredentials) as wrong:
        services.authenticate(db.session, "a@example.org", "wrong password!", ip="1.1.1.1")
    with pytest.raises(services.InvalidCredentials) as unknown:
        services.authenticate(db.session, "nobody@example.org", PASSWORD, ip="1.1.1.2")
    assert str(wrong.value) == str(unknown.value)


def test_throttle_per_account_blocks_even_the_right_password(db):
    services.create_user(db.session, "a@example.org", PASSWORD)
    now = now_utc()
    for i in range(5):
        with pytest.raises(services.InvalidCredentials):
            services.authenticate(db.session, "a@example.org", "nope nope nope", ip=f"10.0.0.{i}",
                                  now=now + dt.timedelta(minutes=i))
    with pytest.raises(services.Throttled) as err:
        services.authenticate(db.session, "a@example.org", PASSWORD, ip="10.0.0.99",
                              now=now + dt.timedelta(minutes=5))
    # the oldest failure leaves the 15-minute window at now + 15 min
    assert err.value.retry_after == dt.timedelta(minutes=10)
    user = services.authenticate(db.session, "a@example.org", PASSWORD, ip="10.0.0.99",
                                 now=now + dt.timedelta(minutes=15, seconds=1))
    assert user.email == "a@example.org"


def test_throttle_per_address_across_accounts(db):
    services.create_user(db.session, "victim@example.org", PASSWORD)
    now = now_utc()
    for i in range(5):
        with pytest.raises(services.InvalidCredentials):
            services.authenticate(db.session, f"guess{i}@example.org", "nope nope nope",
                                  ip="203.0.113.7", now=now)
    with pytest.raises(services.Throttled):
        services.authenticate(db.session, "victim@example.org", PASSWORD, ip="203.0.113.7",
                              now=now)
    # the same account from another address is not blocked by that address's failures
    assert services.authenticate(db.session, "victim@example.org", PASSWORD, ip="198.51.100.1",
                                 now=now)


def test_four_failures_do_not_lock(db):
    services.create_user(db.session, "a@example.org", PASSWORD)
    for _ in range(4):
        with pytest.raises(services.InvalidCredentials):
            services.authenticate(db.session, "a@example.org", "nope nope nope", ip="1.2.3.4")
    assert services.authenticate(db.session, "a@example.org", PASSWORD, ip="1.2.3.4")
    # a success clears the account's failures
    count = sa.select(sa.func.count()).where(LoginFailure.email == "a@example.org")
    assert db.session.scalar(count) == 0


def test_deactivated_user_cannot_authenticate(db):
    admin = services.create_user(db.session, "admin@example.org", PASSWORD, role="admin")
    user = services.create_user(db.session, "a@example.org", PASSWORD)
    services.deactivate(db.session, user, by=admin)
    with pytest.raises(services.InvalidCredentials):
        services.authenticate(db.session, "a@example.org", PASSWORD, ip="1.2.3.4")


def test_rehash_on_login_when_parameters_change(db, monkeypatch):
    user = services.create_user(db.session, "a@example.org", PASSWORD)
    old_hash = user.password_hash
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=2, memory_cost=2048,
                                                              parallelism=1))
    services.authenticate(db.session, "a@example.org", PASSWORD, ip="1.2.3.4")
    assert user.password_hash != old_hash
    assert "m=2048,t=2" in user.password_hash


def test_password_change_rotates_session_token(db):
    user = services.create_user(db.session, "a@example.org", PASSWORD)
    token = user.session_token
    with pytest.raises(services.InvalidCredentials):
        services.change_password(db.session, user, "not my password", "a brand new passphrase")
    services.change_password(db.session, user, PASSWORD, "a brand new passphrase")
    assert user.session_token != token
    assert passwords.verify_password(user.password_hash, "a brand new passphrase")


def test_last_admin_cannot_be_demoted_or_deactivated(db):
    admin = services.create_user(db.session, "admin@example.org", PASSWORD, role="admin")
    other = services.create_user(db.session, "other@example.org", PASSWORD, role="staff")
    with pytest.raises(services.AccountError, match="last active admin"):
        services.set_role(db.session, admin, "staff", by=admin)
    services.set_role(db.session, other, "admin", by=admin)
    services.set_role(db.session, admin, "staff", by=other)
    assert admin.role == Role.STAFF


def test_deactivate_rotates_token_and_is_audited(db):
    from coop.audit import AuditEvent

    admin = services.create_user(db.session, "admin@example.org", PASSWORD, role="admin")
    user = services.create_user(db.session, "a@example.org", PASSWORD)
    token = user.session_token
    services.deactivate(db.session, user, by=admin)
    assert not user.active and user.session_token != token
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
