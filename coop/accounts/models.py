"""User accounts, their signed-in sessions, recovery codes and the login throttle's counters."""

from __future__ import annotations

import datetime as dt
import enum
import secrets

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from coop.db import Base, UTCDateTime, now_utc


class Role(enum.StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return ROLE_RANK[self]

    @property
    def as_noun(self) -> str:
        """For a sentence: "is now a member", "is now staff", "is now an admin"."""
        return {"member": "a member", "staff": "staff", "admin": "an admin"}[self.value]


ROLE_RANK = {Role.MEMBER: 1, Role.STAFF: 2, Role.ADMIN: 3}


#: a password hash that no password matches (invited accounts, until they set one)
UNUSABLE_PREFIX = "!"


def unusable_password() -> str:
    return UNUSABLE_PREFIX + secrets.token_urlsafe(24)


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("role IN ('member', 'staff', 'admin')", name="role_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: stored lower-cased and stripped
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(10), default=Role.MEMBER.value)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: when the latest password-reset or invitation link was sent; part of what those links
    #: sign, so sending a new one kills the older ones (None once used)
    password_token_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: when the owner was last told about repeated failed logins (at most one email a day)
    failed_login_notice_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: the address a change was asked for, and the nonce its link carries (single use)
    pending_email: Mapped[str | None] = mapped_column(sa.String(254))
    email_change_nonce: Mapped[str | None] = mapped_column(sa.String(64))
    #: base32 TOTP secret once two-step verification is on
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: the last 30-second time step a code was accepted for (no replay within its window)
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    #: set by the user loader and at login: the token of the session this request runs in
    login_token = None  # str | None, not a column
    #: the UserSession row this request runs in (not a column)
    session_id = None

    def get_id(self) -> str | None:
        """Flask-Login's id is the session's own token, so ending a session (or all of them)
        ends its cookie and its remember-me cookie too."""
        return self.login_token

    @property
    def has_usable_password(self) -> bool:
        return not self.password_hash.startswith(UNUSABLE_PREFIX)

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_secret is not None and self.totp_enabled_at is not None

    def is_active(self) -> bool:
        return self.active

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]

    @property
    def is_staff(self) -> bool:
        return self.has_role(Role.STAFF)

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)

    @property
    def display_name(self) -> str:
        return self.name or self.email



class UserSession(Base):
    """One signed-in browser: its token (hashed) is Flask-Login's id for that browser."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    #: sha256 of the random token kept in the browser's session (and remember-me) cookie
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: "Firefox on Windows", from the user agent; the user agent itself is not kept
    device: Mapped[str] = mapped_column(sa.String(100), default="")
    remember: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: updated at most once a minute
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: a hard end (remember-me's lifetime); idle limits come from the settings
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RecoveryCode(Base):
    """A single-use code for when the authenticator app is lost; only its hash is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    #: HMAC-SHA256 (keyed with the secret key) of the normalised code
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """A throttle counter: recent failures of one kind for one key from one address.

    ``key_hash`` is an HMAC (keyed with the secret key) of what identifies the account (the
    normalised email as typed, or the user id for codes), never the text itself; ``"*"`` for a
    counter of the address alone. ``ip`` is ``"*"`` for a counter of the key alone.
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        sa.UniqueConstraint("scope", "key_hash", "ip", name="uq_login_failures_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "login" (passwords), "code" (second factor), "ip" (address alone), "reset", …
    scope: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64))
    ip: Mapped[str] = mapped_column(sa.String(64))
    failures: Mapped[int] = mapped_column(default=0)
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
