"""User accounts and failed-login records."""

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


ROLE_RANK = {Role.MEMBER: 1, Role.STAFF: 2, Role.ADMIN: 3}


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


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
    #: Flask-Login's alternative id; rotated on logout, password change and deactivation
    session_token: Mapped[str] = mapped_column(
        sa.String(64), unique=True, default=new_session_token
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def get_id(self) -> str:
        return self.session_token

    @property
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

    def rotate_session_token(self) -> None:
        self.session_token = new_session_token()


class LoginFailure(Base):
    """One failed login; counted per account and per address for throttling."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the email as typed (normalised), whether or not an account has it
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
