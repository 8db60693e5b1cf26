"""The throttle in front of every password and code check: slows a guesser, never locks out
the owner.

Failures are counted per (account, client address) and per client address alone. The pair
gets a few free tries, then has to wait a cool-down that doubles with each further failure
(capped); the address alone gets a much higher ceiling, so a readers' meeting behind one
address can still log in. Nothing is counted per account alone, so a stranger's failures from
one address never keep the owner out from another.

Counting is reserve-first and atomic: an attempt takes its place in the counter (one
``INSERT … ON CONFLICT DO UPDATE`` that locks the row, then the decision, then the update, in
a transaction of its own) *before* the password is checked, and gives it back on success.
Thirty parallel wrong logins therefore reach the password check exactly as many times as the
rule allows, on SQLite and PostgreSQL alike. The counters live outside the request's
transaction on purpose: a refused attempt must stay counted whatever the request does next.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from coop.accounts.models import LoginFailure
from coop.db import now_utc

#: the counter of an address alone
ANY = "*"


@dataclass(frozen=True)
class Rule:
    """``free`` failures cost nothing; each one after waits ``base * 2**(n - free)`` (at most
    ``cap``) from the last failure; a counter with no failure for ``reset`` starts again."""

    free: int
    base: dt.timedelta
    cap: dt.timedelta
    reset: dt.timedelta

    def wait(self, failures: int, last_at: dt.datetime, now: dt.datetime) -> dt.timedelta:
        """How long until the next attempt may be checked (zero: now)."""
        if failures < self.free or now - last_at >= self.reset:
            return dt.timedelta(0)
        steps = min(failures - self.free, 20)
        cool_down = min(self.cap, self.base * (2 ** steps))
        return max(dt.timedelta(0), last_at + cool_down - now)


#: (account, address): 5 free tries, then 1, 2, 4, 8, 15, 15 … minutes between tries
PAIR = Rule(free=5, base=dt.timedelta(minutes=1), cap=dt.timedelta(minutes=15),
            reset=dt.timedelta(hours=1))
#: the address alone: a ceiling no readers' meeting reaches, then a short cool-down
ADDRESS = Rule(free=100, base=dt.timedelta(minutes=5), cap=dt.timedelta(minutes=15),
               reset=dt.timedelta(hours=1))


class Throttled(Exception):
    def __init__(self, retry_after: dt.timedelta, message: str | None = None):
        self.retry_after = max(retry_after, dt.timedelta(seconds=1))
        minutes = max(1, int(self.retry_after.total_seconds() + 59) // 60)
        super().__init__(message or (
            "Too many failed attempts from here. Please wait "
            f"{minutes} minute{'s' if minutes != 1 else ''} and try again, or use "
            "“Forgot your password?” to get a link by email."
        ))


def key_hash(secret_key: str | bytes, scope: str, value: str) -> str:
    """HMAC-SHA256 of ``scope:value``: the counter's key, without the typed text."""
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return hmac.new(key, f"{scope}:{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Ticket:
    """A reserved attempt: give it back with :func:`succeeded` when the check passes."""

    scope: str
    key: str
    ip: str
    failures: int  #: the pair's failures, this attempt included


def _engine(session: Session) -> Engine:
    return session.get_bind()


def _lock_row(conn: Connection, scope: str, key: str, ip: str, now: dt.datetime):
    """Insert the counter if missing, else touch it: either way the row is now locked by this
    transaction (a row lock on PostgreSQL, the write lock on SQLite) until it commits."""
    table = LoginFailure.__table__
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(scope=scope, key_hash=key, ip=ip, failures=0, first_at=now,
                                last_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.scope, table.c.key_hash, table.c.ip],
        set_={"failures": table.c.failures},
    ).returning(table.c.id, table.c.failures, table.c.first_at, table.c.last_at)
    row = conn.execute(stmt).one()
    return row.id, row.failures, row.first_at, row.last_at


def reserve(session: Session, secret_key: str, scope: str, value: str, ip: str, *,
            pair: Rule = PAIR, address: Rule = ADDRESS, now: dt.datetime | None = None) -> Ticket:
    """Count one attempt for ``value`` (an email, a user id) from ``ip`` before it is checked.

    Call it before the request's session has written anything: the counters are written in a
    transaction of their own, and on SQLite an earlier write would hold the lock it needs.

    :raise Throttled: when the pair or the address must wait; nothing is counted then.
    """
    now = now or now_utc()
    ip = (ip or "unknown")[:64]
    key = key_hash(secret_key, scope, value)
    table = LoginFailure.__table__
    with _engine(session).begin() as conn:
        rows = []
        for row_scope, row_key, rule in ((scope, key, pair), ("ip", ANY, address)):
            row_id, failures, _first, last_at = _lock_row(conn, row_scope, row_key, ip, now)
            if now - last_at >= rule.reset:
                failures = 0
            wait = rule.wait(failures, last_at, now)
            if wait:
                raise Throttled(wait)  # the transaction rolls back: nothing counted
            rows.append((row_id, failures))
        for row_id, failures in rows:
            conn.execute(table.update().where(table.c.id == row_id).values(
                failures=failures + 1, last_at=now,
                first_at=sa.case((table.c.failures == 0, now), else_=table.c.first_at)))
    return Ticket(scope=scope, key=key, ip=ip, failures=rows[0][1] + 1)


def succeeded(session: Session, ticket: Ticket) -> None:
    """The check passed: the pair starts again from nothing, the address gets its try back."""
    table = LoginFailure.__table__
    with _engine(session).begin() as conn:
        conn.execute(table.delete().where(table.c.scope == ticket.scope,
                                          table.c.key_hash == ticket.key,
                                          table.c.ip == ticket.ip))
        conn.execute(table.update().where(table.c.scope == "ip", table.c.key_hash == ANY,
                                          table.c.ip == ticket.ip, table.c.failures > 0)
                     .values(failures=table.c.failures - 1))


def count_once(session: Session, secret_key: str, scope: str, value: str, *, limit: int,
               window: dt.timedelta, ip: str = ANY, now: dt.datetime | None = None) -> bool:
    """Count one request for ``value`` in a fixed window; False once ``limit`` is reached.

    For limits that must not reveal anything (reset emails per address): the caller answers
    the same either way and only skips the work.
    """
    now = now or now_utc()
    key = key_hash(secret_key, scope, value)
    table = LoginFailure.__table__
    with _engine(session).begin() as conn:
        row_id, count, first_at, _last = _lock_row(conn, scope, key, ip[:64], now)
        if count and now - first_at >= window:
            count, first_at = 0, now
        if count >= limit:
            return False
        conn.execute(table.update().where(table.c.id == row_id).values(
            failures=count + 1, last_at=now, first_at=now if count == 0 else first_at))
    return True


def count(session: Session, secret_key: str, scope: str, value: str, *,
          window: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Count one event for ``value`` in a fixed window and return the count so far (for
    notices, never for refusing anything)."""
    now = now or now_utc()
    key = key_hash(secret_key, scope, value)
    table = LoginFailure.__table__
    with _engine(session).begin() as conn:
        row_id, so_far, first_at, _last = _lock_row(conn, scope, key, ANY, now)
        if so_far and now - first_at >= window:
            so_far, first_at = 0, now
        conn.execute(table.update().where(table.c.id == row_id).values(
            failures=so_far + 1, last_at=now, first_at=now if so_far == 0 else first_at))
    return so_far + 1


def counted(session: Session, secret_key: str, scope: str, value: str, *,
            window: dt.timedelta, now: dt.datetime | None = None) -> tuple[int, dt.datetime]:
    """What :func:`count` has counted for ``value`` in the current window, without counting,
    and when that window began (``now`` when nothing is counted)."""
    now = now or now_utc()
    table = LoginFailure.__table__
    with _engine(session).connect() as conn:
        row = conn.execute(sa.select(table.c.failures, table.c.first_at).where(
            table.c.scope == scope, table.c.key_hash == key_hash(secret_key, scope, value),
            table.c.ip == ANY)).first()
    if row is None or not row.failures or now - row.first_at >= window:
        return 0, now
    return row.failures, row.first_at


def give_back(session: Session, secret_key: str, scope: str, value: str) -> None:
    """Take back one of :func:`count_once`'s counts for ``value`` (an attempt that passed)."""
    table = LoginFailure.__table__
    with _engine(session).begin() as conn:
        conn.execute(table.update().where(
            table.c.scope == scope, table.c.key_hash == key_hash(secret_key, scope, value),
            table.c.ip == ANY, table.c.failures > 0).values(failures=table.c.failures - 1))


def forget_key(session: Session, secret_key: str, scope: str, value: str) -> None:
    """Drop every counter of ``value`` (an account being deleted)."""
    table = LoginFailure.__table__
    session.execute(table.delete().where(table.c.scope == scope,
                                         table.c.key_hash == key_hash(secret_key, scope, value)))


def purge(session: Session, *, older_than: dt.datetime) -> int:
    """Delete counters whose last failure is older than ``older_than``; returns how many."""
    table = LoginFailure.__table__
    return session.execute(table.delete().where(table.c.last_at < older_than)).rowcount or 0
