"""The login throttle: per (account, address) cool-downs, a high ceiling per address, nobody
locked out by a stranger, atomic under concurrency, no typed text stored."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from coop.accounts import services, throttle
from coop.accounts.models import LoginFailure
from coop.db import now_utc
from tests.conftest import PASSWORD, login

WRONG = "not the password at all"
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def owner(db):
    user = services.create_user(db.session, "owner@example.org", PASSWORD)
    db.session.commit()
    return user


def fail(db, email, ip, now):
    with pytest.raises(services.InvalidCredentials):
        services.authenticate(db.session, email, WRONG, ip=ip, now=now)
    db.session.commit()


# --- the rule, as a pure function ---------------------------------------------------------

def test_rule_free_tries_then_a_doubling_cool_down_with_a_cap():
    rule = throttle.PAIR
    t = now_utc()
    assert rule.wait(4, t, t) == dt.timedelta(0)
    assert rule.wait(5, t, t) == MINUTE
    assert rule.wait(6, t, t) == 2 * MINUTE
    assert rule.wait(7, t, t) == 4 * MINUTE
    assert rule.wait(50, t, t) == 15 * MINUTE  # capped
    assert rule.wait(5, t, t + 30 * dt.timedelta(seconds=1)) == dt.timedelta(seconds=30)
    assert rule.wait(5, t, t + MINUTE) == dt.timedelta(0)
    assert rule.wait(50, t, t + dt.timedelta(hours=1)) == dt.timedelta(0)  # forgotten


# --- through the service --------------------------------------------------------------------

def test_five_failures_then_the_pair_waits_even_with_the_right_password(db, owner):
    now = now_utc()
    for _ in range(5):
        fail(db, owner.email, "203.0.113.9", now)
    with pytest.raises(services.Throttled) as err:
        services.authenticate(db.session, owner.email, PASSWORD, ip="203.0.113.9", now=now)
    assert err.value.retry_after == MINUTE
    # after the cool-down, the right password works from there too
    assert services.authenticate(db.session, owner.email, PASSWORD, ip="203.0.113.9",
                                 now=now + MINUTE)


def test_the_cool_down_doubles_with_each_further_failure(db, owner):
    now = now_utc()
    for _ in range(5):
        fail(db, owner.email, "203.0.113.9", now)
    fail(db, owner.email, "203.0.113.9", now + MINUTE)  # the 6th, after waiting
    with pytest.raises(services.Throttled) as err:
        services.authenticate(db.session, owner.email, PASSWORD, ip="203.0.113.9",
                              now=now + MINUTE)
    assert err.value.retry_after == 2 * MINUTE


def test_an_attackers_failures_never_block_the_owner_from_another_address(db, owner):
    now = now_utc()
    attacker = "198.51.100.66"
    for i in range(40):  # far past the pair's free tries, at the cool-down's pace
        with contextlib.suppress(services.InvalidCredentials, services.Throttled):
            services.authenticate(db.session, owner.email, WRONG, ip=attacker,
                                  now=now + i * 15 * MINUTE)
        db.session.commit()
    later = now + 39 * 15 * MINUTE + MINUTE
    with pytest.raises(services.Throttled):
        services.authenticate(db.session, owner.email, PASSWORD, ip=attacker, now=later)
    # the owner, from home, at the same moment: straight in
    user = services.authenticate(db.session, owner.email, PASSWORD, ip="192.0.2.10", now=later)
    assert user.id == owner.id


def test_one_address_trying_many_accounts_hits_the_address_ceiling(make_app, make_user):
    app = make_app(LOGIN_ADDRESS_MAX_FAILURES=10)
    from coop.extensions import db

    make_user("member", email="victim@example.org")
    now = now_utc()
    with app.app_context():
        for i in range(10):
            fail(db, f"guess{i}@example.org", "203.0.113.7", now)
        with pytest.raises(services.Throttled):
            services.authenticate(db.session, "victim@example.org", PASSWORD, ip="203.0.113.7",
                                  now=now)
        # the same account from another address is not blocked by that address's failures
        assert services.authenticate(db.session, "victim@example.org", PASSWORD,
                                     ip="198.51.100.1", now=now)


def test_a_readers_meeting_behind_one_address_can_all_log_in(db):
    """Forty members on the hall's wifi, one in four mistyping once first: all get in."""
    now = now_utc()
    for i in range(40):
        services.create_user(db.session, f"reader{i}@example.org", PASSWORD)
    db.session.commit()
    for i in range(40):
        if i % 4 == 0:
            fail(db, f"reader{i}@example.org", "203.0.113.50", now)
        assert services.authenticate(db.session, f"reader{i}@example.org", PASSWORD,
                                     ip="203.0.113.50", now=now)
        db.session.commit()


def test_counters_hold_no_typed_text(app, db, owner):
    typed = "Secret Password Typed In The Email Box"
    with pytest.raises(services.InvalidCredentials):
        services.authenticate(db.session, typed, WRONG, ip="203.0.113.9")
    fail(db, owner.email, "203.0.113.9", now_utc())
    rows = db.session.execute(sa.select(LoginFailure.__table__)).all()
    dump = repr(rows).lower()
    assert rows and typed.lower() not in dump and "owner" not in dump
    keys = {r.key_hash for r in rows}
    assert throttle.key_hash(app.config["SECRET_KEY"], "login",
                             "owner@example.org") in keys


def test_the_owner_is_told_once_a_day_about_repeated_failures(db, owner, outbox):
    """Ten failures in a day from anywhere (here, two at a time from five addresses, as a
    careful guesser would spread them) bring one email; more that day bring no more."""
    now = now_utc()
    for round_ in range(2):
        for i in range(5):
            fail(db, owner.email, f"203.0.113.{i}", now + round_ * MINUTE)
            if (round_, i) != (1, 4):
                assert outbox() == []
    told = [m for m in outbox() if "Failed attempts" in m["Subject"]]
    assert len(told) == 1 and told[0]["To"] == owner.email
    assert told[0]["Reply-To"] == "membership@example.org"
    assert "http://127.0.0.1:5000/login/forgot" in told[0].get_content()
    for i in range(10):
        fail(db, owner.email, f"198.51.100.{i}", now + 2 * MINUTE)
    assert len([m for m in outbox() if "Failed attempts" in m["Subject"]]) == 1
    # a day later, again
    for i in range(10):
        fail(db, owner.email, f"192.0.2.{i}", now + dt.timedelta(days=1, minutes=3))
    assert len([m for m in outbox() if "Failed attempts" in m["Subject"]]) == 2


def test_unknown_addresses_get_no_email_and_are_throttled_alike(db):
    now = now_utc()
    for _ in range(5):
        fail(db, "nobody@example.org", "203.0.113.9", now)
    with pytest.raises(services.Throttled):
        services.authenticate(db.session, "nobody@example.org", WRONG, ip="203.0.113.9", now=now)


def test_purge_command_deletes_old_counters(app, db, runner, owner):
    fail(db, owner.email, "203.0.113.9", now_utc() - dt.timedelta(days=3))
    fail(db, owner.email, "203.0.113.10", now_utc())
    result = runner.invoke(args=["purge-login-failures"])
    assert result.exit_code == 0, result.output
    # the old pair and its address go; the account's notice counter was touched just now
    assert "Deleted 2 login-failure counters" in result.output
    left = db.session.scalars(sa.select(LoginFailure.scope).where(
        LoginFailure.ip != "203.0.113.10")).all()
    assert left == ["notice"]


# --- concurrency: reserve first, atomically -------------------------------------------------

def test_thirty_parallel_wrong_logins_get_exactly_five_password_checks(app, owner, monkeypatch):
    from coop.accounts import services as services_module
    from coop.extensions import db

    checks = []
    lock = threading.Lock()
    real = services_module.verify_password
    email, owner_hash = owner.email, owner.password_hash

    def counting(password_hash, password):
        if password_hash == owner_hash:
            with lock:
                checks.append(1)
        return real(password_hash, password)

    monkeypatch.setattr(services_module, "verify_password", counting)
    barrier = threading.Barrier(30)
    outcomes = []

    def attempt():
        with app.app_context():
            barrier.wait()
            try:
                services.authenticate(db.session, email, WRONG, ip="203.0.113.99")
            except services.Throttled:
                outcome = "throttled"
            except services.InvalidCredentials:
                outcome = "wrong"
            db.session.commit()
            db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outcomes) == 30
    assert len(checks) == 5
    assert outcomes.count("wrong") == 5 and outcomes.count("throttled") == 25
    with app.app_context():
        failures = db.session.scalar(sa.select(LoginFailure.failures).where(
            LoginFailure.scope == "login"))
        assert failures == 5


def test_thirty_parallel_wrong_logins_through_the_login_page(app, owner, monkeypatch):
    from coop.accounts import services as services_module

    checks = []
    lock = threading.Lock()
    real = services_module.verify_password
    email, owner_hash = owner.email, owner.password_hash

    def counting(password_hash, password):
        if password_hash == owner_hash:
            with lock:
                checks.append(1)
        return real(password_hash, password)

    monkeypatch.setattr(services_module, "verify_password", counting)
    barrier = threading.Barrier(30)
    statuses = []

    def attempt():
        client = app.test_client()
        barrier.wait()
        response = client.post("/login", data={"email": email, "password": WRONG},
                               environ_base={"REMOTE_ADDR": "203.0.113.98"})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [200] * 5 + [429] * 25
    assert len(checks) == 5


# --- through the pages ------------------------------------------------------------------------

def test_login_page_429_for_the_pair_and_the_owner_elsewhere_gets_in(app, make_user):
    user = make_user()
    attacker = app.test_client()
    for _ in range(5):
        assert login(attacker, user.email, WRONG,
                     ).status_code == 200
    response = login(attacker, user.email)
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Too many failed attempts" in html and "Forgot your password?" in html
    assert int(response.headers["Retry-After"]) > 0
    owner = app.test_client()
    response = owner.post("/login", data={"email": user.email, "password": PASSWORD},
                          environ_base={"REMOTE_ADDR": "192.0.2.44"})
    assert response.status_code == 302


@pytest.mark.parametrize("path,field,extra", [
    ("/account/password", "current_password",
     {"new_password": "a brand new passphrase", "confirm": "a brand new passphrase"}),
    ("/account/delete", "delete_password", {"understood": "y"}),
    ("/account/email", "email_password", {"new_email": "elsewhere@example.org"}),
])
def test_every_password_recheck_is_throttled(make_app, make_user, path, field, extra):
    app = make_app(RATELIMIT_ENABLED=False)
    user = make_user()
    client = app.test_client()
    login(client, user.email)
    statuses = [client.post(path, data={field: WRONG, **extra}).status_code for _ in range(6)]
    assert statuses[:5] == [422] * 5 and statuses[5] == 429
    # the right password now waits too (the 24-wrong-then-right hole is closed)
    assert client.post(path, data={field: PASSWORD, **extra}).status_code == 429



def test_a_wrong_password_is_counted_the_same_for_an_address_without_an_account(db):
    """The owner's notice counter is written for every address typed, so a failed login takes
    as long with an account as without (it used to be written only for accounts)."""
    services.create_user(db.session, "known@example.org", PASSWORD)
    db.session.commit()
    for email in ("known@example.org", "nobody@example.org"):
        with pytest.raises(services.InvalidCredentials):
            services.authenticate(db.session, email, "wrong password", ip="192.0.2.1")
        db.session.rollback()
    notices = db.session.scalars(sa.select(LoginFailure.failures).where(
        LoginFailure.scope == "notice")).all()
    assert notices == [1, 1]
