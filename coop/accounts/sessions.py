"""Signed-in sessions: one row per browser, listed on /account and ended one by one or all at
once.

The browser keeps a random token (in Flask's signed session cookie, and in the remember-me
cookie when asked for); the database keeps only its sha256. That token is Flask-Login's user
id, so ending a session here ends both cookies at their next request. Staff and admin
sessions also end after ``STAFF_IDLE_HOURS`` without a request, and a remembered staff login
lasts at most ``STAFF_REMEMBER_HOURS``.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

import sqlalchemy as sa
from flask import current_app, g, has_app_context
from sqlalchemy.orm import Session

from coop.accounts.models import User, UserSession
from coop.db import SQLITE_BUSY_TIMEOUT_MS, now_utc
from coop.security import token_digest

#: last_seen_at is written at most this often (one write a minute, not one per request)
TOUCH_EVERY = dt.timedelta(minutes=1)


def describe_device(user_agent: str) -> str:
    """"Firefox on Windows", "Safari on iPhone", … from a user agent; "Unknown device" else."""
    ua = user_agent or ""
    browsers = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
                ("Chromium/", "Chromium"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
    systems = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"),
               ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
               ("Linux", "Linux"))
    browser = next((name for marker, name in browsers if marker in ua), "")
    system = next((name for marker, name in systems if marker in ua), "")
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system
    cleaned = re.sub(r"[^\w .,/()-]", "", ua)[:40].strip()
    return cleaned or "Unknown device"


def idle_limit(user: User) -> dt.timedelta:
    if user.is_staff:
        return dt.timedelta(hours=current_app.config["STAFF_IDLE_HOURS"])
    return current_app.config["REMEMBER_COOKIE_DURATION"]


def remember_duration(user: User) -> dt.timedelta:
    """How long a remember-me cookie lasts for this account."""
    if user.is_staff:
        return dt.timedelta(hours=current_app.config["STAFF_REMEMBER_HOURS"])
    return current_app.config["REMEMBER_COOKIE_DURATION"]


def start(session: Session, user: User, *, device: str, remember: bool,
          now: dt.datetime | None = None) -> tuple[str, UserSession]:
    """A new session for ``user`` (a login); returns the token for the browser and the row."""
    now = now or now_utc()
    row = _new_row(session, user, device=device, remember=remember, now=now,
                   expires_at=now + remember_duration(user) if remember else None)
    user.last_login_at = now
    session.flush()
    return user.login_token, row


def _new_row(session: Session, user: User, *, device: str, remember: bool, now: dt.datetime,
             expires_at: dt.datetime | None) -> UserSession:
    token = secrets.token_urlsafe(32)
    row = UserSession(user_id=user.id, token_hash=token_digest(token), device=device[:100],
                      remember=remember, created_at=now, last_seen_at=now,
                      expires_at=expires_at)
    session.add(row)
    user.login_token = token
    return row


def renew(session: Session, user: User, *, device: str,
          now: dt.datetime | None = None) -> UserSession | None:
    """This browser's session under a new token: its row ends and a new one starts with the
    same remember-me choice (after a password change or "log out everywhere else", a copy of
    this browser's cookies must stop working too). None when ``user`` isn't logged in by a
    session row."""
    current = current_id(user)
    row = session.get(UserSession, current) if current is not None else None
    if row is None:
        return None
    now = now or now_utc()
    row.revoked_at = now
    # not a login: it ends when the old one would have (a staff member's remembered login
    # can't be stretched past its cap by renewing), and last_login_at stays
    new = _new_row(session, user, device=device, remember=row.remember, now=now,
                   expires_at=row.expires_at)
    session.flush()
    user.session_id = new.id
    return new


def is_live(row: UserSession, user: User, now: dt.datetime) -> bool:
    if row.revoked_at is not None or (row.expires_at is not None and now >= row.expires_at):
        return False
    return now - row.last_seen_at < idle_limit(user)


def load(session: Session, token: str, *, now: dt.datetime | None = None) -> User | None:
    """The active user whose live session has this token (with ``login_token`` and
    ``session_id`` set on it), else None. Notes the time it was seen, at most once a minute,
    in a transaction of its own (so the request's own transaction stays free)."""
    if not token or len(token) > 100:
        return None
    now = now or now_utc()
    row = session.scalar(sa.select(UserSession)
                         .where(UserSession.token_hash == token_digest(token)))
    user = session.get(User, row.user_id) if row is not None else None
    if user is None or not user.active or not is_live(row, user, now):
        if has_app_context():
            g.dead_session = True  # see coop.accounts.init_app: its cookies are cleared
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        _touch(session, row.id, now)
        session.expire(row, ["last_seen_at"])
    user.login_token = token
    user.session_id = row.id
    return user


def _touch(session: Session, row_id: int, now: dt.datetime) -> None:
    """Note when a session was last seen, in a transaction of its own that waits at most a
    moment for a lock: it is bookkeeping, and a request that already holds the lock (SQLite's
    write lock, or this row on PostgreSQL) must not wait for itself. Skipped when busy; the
    next request notes it."""
    table = UserSession.__table__
    try:
        with session.get_bind().connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            conn.exec_driver_sql("PRAGMA busy_timeout=200" if sqlite
                                 else "SET LOCAL lock_timeout = '200ms'")
            try:
                conn.execute(table.update().where(table.c.id == row_id)
                             .values(last_seen_at=now))
                conn.commit()
            finally:
                if sqlite:
                    conn.rollback()
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    except sa.exc.OperationalError:
        return


def current_id(user: User) -> int | None:
    return getattr(user, "session_id", None)


def live_sessions(session: Session, user: User, *,
                  now: dt.datetime | None = None) -> list[UserSession]:
    now = now or now_utc()
    rows = session.scalars(
        sa.select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.last_seen_at.desc())
    )
    return [row for row in rows if is_live(row, user, now)]


def revoke(session: Session, user: User, session_id: int, *,
           now: dt.datetime | None = None) -> bool:
    """End one of ``user``'s sessions (another user's id does nothing); False if none."""
    result = session.execute(
        sa.update(UserSession)
        .where(UserSession.id == session_id, UserSession.user_id == user.id,
               UserSession.revoked_at.is_(None))
        .values(revoked_at=now or now_utc())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def revoke_all(session: Session, user: User, *, keep_id: int | None = None,
               now: dt.datetime | None = None) -> int:
    """End every session of ``user`` but ``keep_id``; returns how many ended."""
    stmt = (sa.update(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now or now_utc())
            .execution_options(synchronize_session=False))
    if keep_id is not None:
        stmt = stmt.where(UserSession.id != keep_id)
    return session.execute(stmt).rowcount or 0


def purge(session: Session, *, older_than: dt.datetime) -> int:
    """Delete ended sessions and sessions unseen since ``older_than``."""
    result = session.execute(sa.delete(UserSession).where(
        sa.or_(UserSession.revoked_at < older_than, UserSession.last_seen_at < older_than)))
    return result.rowcount or 0
