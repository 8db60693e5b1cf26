"""API tokens (stored only as a SHA-256 hash) and the idempotency keys the API has answered."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coop.db import Base, UTCDateTime, now_utc

#: a token's name is used in ``via="api:<name>"`` on ledger entries (64 characters at most)
NAME_MAX = 40
#: ``coop_`` and the first characters of the secret part, shown in lists to tell tokens apart
PREFIX_LENGTH = 13
KEY_MAX = 255


class ApiToken(Base):
    """A bearer token for a machine client such as the payment processor."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX), unique=True)
    #: the start of the token, shown so people can tell which token a client holds
    prefix: Mapped[str] = mapped_column(sa.String(16))
    #: hex SHA-256 of the whole token; the token itself is never stored
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: set once; a revoked token is refused from then on
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    created_by = relationship("User", foreign_keys=[created_by_id], lazy="raise_on_sql")
    revoked_by = relationship("User", foreign_keys=[revoked_by_id], lazy="raise_on_sql")

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def via(self) -> str:
        """How ledger entries made with this token are marked."""
        return f"api:{self.name}"

    def __repr__(self) -> str:
        return f"<ApiToken {self.name} {self.prefix}…>"


class IdempotencyKey(Base):
    """The answer given to one ``Idempotency-Key`` of one token, saved in the same transaction
    as what the request recorded, so a retry gets the same answer and records nothing new."""

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (
        sa.UniqueConstraint("token_id", "key", name="uq_api_idempotency_keys_token_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(sa.ForeignKey("api_tokens.id", ondelete="CASCADE"))
    #: the client's Idempotency-Key header, 1–255 printable ASCII characters
    key: Mapped[str] = mapped_column(sa.String(KEY_MAX))
    #: hex SHA-256 of the method, path and canonical JSON body of the first request
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    #: HTTP status of the stored answer
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
