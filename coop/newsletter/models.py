"""Newsletter subscribers, their topics and the record of every consent they gave."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from coop.db import Base, UTCDateTime, now_utc
from coop.outbox import failed_since


class Status(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"

    @property
    def label(self) -> str:
        return {"pending": "Waiting for confirmation", "confirmed": "Subscribed",
                "unsubscribed": "Unsubscribed"}[self.value]


class Subscriber(Base):
    __tablename__ = "newsletter_subscribers"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'confirmed', 'unsubscribed')",
                           name="status_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: stored lower-cased and stripped
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    status: Mapped[str] = mapped_column(sa.String(12), default=Status.PENDING.value, index=True)
    #: sha256 hex of the emailed confirmation token; the token itself is never stored
    confirm_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    #: when the current confirmation email was sent; its token expires 7 days later,
    #: and no other is sent to this address within the hour
    confirm_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: random part of the unsubscribe link; rotating it kills every old link
    unsubscribe_key: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: since when an email to this address has been failing (from the outbox; shown to staff)
    mail_failed_at: Mapped[dt.datetime | None] = column_property(
        failed_since(sa.literal("subscriber:") + sa.cast(id, sa.String)))

    topics: Mapped[list[SubscriberTopic]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", order_by="SubscriberTopic.topic"
    )
    consents: Mapped[list[Consent]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", order_by="Consent.id"
    )

    @property
    def status_enum(self) -> Status:
        return Status(self.status)

    @property
    def topic_keys(self) -> list[str]:
        """Topic keys, sorted (the same before and after a round trip to the database)."""
        return sorted(t.topic for t in self.topics)


class SubscriberTopic(Base):
    __tablename__ = "newsletter_subscriber_topics"

    subscriber_id: Mapped[int] = mapped_column(
        sa.ForeignKey("newsletter_subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    #: a key of NEWSLETTER_TOPICS, e.g. "events"
    topic: Mapped[str] = mapped_column(sa.String(40), primary_key=True, index=True)

    subscriber: Mapped[Subscriber] = relationship(back_populates="topics")


class Consent(Base):
    """One thing a subscriber asked for, when, how and under which wording: kept as evidence."""

    __tablename__ = "newsletter_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        sa.ForeignKey("newsletter_subscribers.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: "requested", "confirmed", "topics_changed", "unsubscribed"
    action: Mapped[str] = mapped_column(sa.String(20))
    #: where it happened: "footer", "newsletter-page", "account", "shares-form", "one-click", …
    source: Mapped[str] = mapped_column(sa.String(40))
    #: the consent text shown to them, and its version
    wording: Mapped[str] = mapped_column(sa.String(1000), default="")
    wording_version: Mapped[str] = mapped_column(sa.String(20), default="")
    #: the topics they had chosen after this step
    topics: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)

    subscriber: Mapped[Subscriber] = relationship(back_populates="consents")
