"""Events, series of events, tags, registrations and messages to attendees."""

from __future__ import annotations

import datetime as dt
import enum
import math
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship, validates

from coop.db import Base, UTCDateTime, now_utc
from coop.outbox import failed_since
from coop.timeutil import to_london

SLUG_LENGTH = 120
TITLE_LENGTH = 200
SUMMARY_LENGTH = 300
DESCRIPTION_LENGTH = 20_000
URL_LENGTH = 500
VENUE_LENGTH = 200
ADDRESS_LENGTH = 500
PRESENTERS_LENGTH = 500
PARTNER_LENGTH = 200
TAG_LENGTH = 40
NAME_LENGTH = 200
EMAIL_LENGTH = 254
SUBJECT_LENGTH = 200
MESSAGE_LENGTH = 10_000
MAX_CAPACITY = 100_000


def seconds_between(starts_at: dt.datetime, ends_at: dt.datetime) -> int:
    """Whole seconds from start to end, rounded up (never shorter than the event), counted
    in UTC so a change of the clocks between them is counted too."""
    return math.ceil((ends_at.astimezone(dt.UTC) - starts_at.astimezone(dt.UTC))
                     .total_seconds())


def _duration_of_row(context) -> int:
    """``duration_seconds`` for a row inserted by a bulk (Core) insert without it."""
    row = context.get_current_parameters()
    return seconds_between(row["starts_at"], row["ends_at"])


class Status(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    MEMBERS = "members"


class RegistrationStatus(enum.StrEnum):
    REGISTERED = "registered"
    WAITING = "waiting"
    CANCELLED = "cancelled"


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Series(Base):
    __tablename__ = "event_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(SLUG_LENGTH), unique=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_LENGTH))
    summary: Mapped[str] = mapped_column(sa.String(SUMMARY_LENGTH), default="")
    #: Markdown; raw HTML is escaped when shown
    description: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc,
                                                    onupdate=now_utc)

    events: Mapped[list[Event]] = relationship(
        back_populates="series", order_by="Event.starts_at"
    )


class EventFlags:
    """What an event's status and visibility say to readers: shared by :class:`Event` and a
    listing's plain-row card (``coop.events.services.Card``)."""

    __slots__ = ()

    @property
    def is_cancelled(self) -> bool:
        return self.status == Status.CANCELLED

    @property
    def members_only(self) -> bool:
        return self.visibility == Visibility.MEMBERS


class Event(EventFlags, Base):
    __tablename__ = "events"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
        sa.CheckConstraint("status IN ('draft', 'published', 'cancelled')", name="status_valid"),
        sa.CheckConstraint("visibility IN ('public', 'members')", name="visibility_valid"),
        sa.CheckConstraint("sequence >= 0", name="sequence_not_negative"),
        sa.Index("ix_events_status_starts_at", "status", "starts_at"),
        #: the listings: counted and paged from the index alone (also serves starts_at alone)
        sa.Index("ix_events_listing", "starts_at", "ends_at", "status", "visibility"),
        sa.CheckConstraint("duration_seconds > 0", name="duration_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(SLUG_LENGTH), unique=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_LENGTH))
    summary: Mapped[str] = mapped_column(sa.String(SUMMARY_LENGTH), default="")
    #: Markdown; raw HTML is escaped when shown
    description: Mapped[str] = mapped_column(sa.Text, default="")
    #: aware UTC; entered and shown in Europe/London
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: ends_at - starts_at, kept beside them (:meth:`_keep_duration`; a Core ``UPDATE`` of
    #: the times must set it too: none does). The longest is read from its index, and an
    #: event still running began at most that long ago, so the upcoming listings start their
    #: walk of the starts_at index there (:func:`coop.events.services.running_since`).
    #: 64-bit: the dates allowed (2000-2100) span more seconds than 32 bits hold.
    duration_seconds: Mapped[int] = mapped_column(sa.BigInteger, default=_duration_of_row,
                                                  index=True)
    online: Mapped[bool] = mapped_column(default=False)
    #: the meeting link for online events
    joining_url: Mapped[str] = mapped_column(sa.String(URL_LENGTH), default="")
    #: False: the joining link is shown only to people with a place
    joining_url_public: Mapped[bool] = mapped_column(default=False)
    venue: Mapped[str] = mapped_column(sa.String(VENUE_LENGTH), default="")
    address: Mapped[str] = mapped_column(sa.String(ADDRESS_LENGTH), default="")
    details_url: Mapped[str] = mapped_column(sa.String(URL_LENGTH), default="")
    #: as printed, e.g. "Rox Middleton, Liam Shaw and Joel Hellewell"
    presenters: Mapped[str] = mapped_column(sa.String(PRESENTERS_LENGTH), default="")
    partner: Mapped[str] = mapped_column(sa.String(PARTNER_LENGTH), default="")
    #: places; None means no limit
    capacity: Mapped[int | None] = mapped_column()
    visibility: Mapped[str] = mapped_column(sa.String(10), default=Visibility.PUBLIC.value)
    status: Mapped[str] = mapped_column(sa.String(10), default=Status.DRAFT.value)
    series_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("event_series.id", ondelete="SET NULL"), index=True
    )
    #: iCalendar SEQUENCE: bumped whenever the event is changed after creation
    sequence: Mapped[int] = mapped_column(default=0)
    #: when the reminder to registrants was claimed (sent once; cleared if the time changes)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: when it was first published (the Atom feed's order)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)

    series: Mapped[Series | None] = relationship(back_populates="events")
    tags: Mapped[list[EventTag]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventTag.tag"
    )
    registrations: Mapped[list[Registration]] = relationship(
        back_populates="event", cascade="all, delete-orphan", passive_deletes=True
    )

    @validates("starts_at", "ends_at")
    def _keep_duration(self, key: str, value: dt.datetime) -> dt.datetime:
        """Whenever either time is set, the length follows (once both are known)."""
        starts = value if key == "starts_at" else self.starts_at
        ends = value if key == "ends_at" else self.ends_at
        if starts is not None and ends is not None:
            self.duration_seconds = seconds_between(starts, ends)
        return value

    @property
    def tag_names(self) -> list[str]:
        return [t.tag for t in self.tags]

    def has_ended(self, now: dt.datetime | None = None) -> bool:
        return self.ends_at <= (now or now_utc())

    def has_started(self, now: dt.datetime | None = None) -> bool:
        return self.starts_at <= (now or now_utc())

    def attendance_open(self, now: dt.datetime | None = None) -> bool:
        """Whether attendance can be marked: from the day of the event (London), when
        people arrive; not for an event weeks away (QA marked one a year ahead)."""
        return to_london(now or now_utc()).date() >= to_london(self.starts_at).date()


class EventTag(Base):
    __tablename__ = "event_tags"
    __table_args__ = (sa.UniqueConstraint("event_id", "tag", name="uq_event_tags_event_tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    #: lower case, e.g. "science"
    tag: Mapped[str] = mapped_column(sa.String(TAG_LENGTH), index=True)

    event: Mapped[Event] = relationship(back_populates="tags")


class Registration(Base):
    """A place (or a place in the queue) at one event; one per email per event."""

    __tablename__ = "event_registrations"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "email", name="uq_event_registrations_event_email"),
        sa.CheckConstraint("status IN ('registered', 'waiting', 'cancelled')",
                           name="status_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(NAME_LENGTH))
    #: stored stripped and lower-cased
    email: Mapped[str] = mapped_column(sa.String(EMAIL_LENGTH), index=True)
    status: Mapped[str] = mapped_column(sa.String(12))
    #: the capability in the confirmation email: cancels and shows the joining link
    token: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_token)
    #: place in the queue: the waiting list is served in order of this, then id
    queued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    promoted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: None until staff mark it
    attended: Mapped[bool | None] = mapped_column()
    #: since when an email to this person has been failing (from the outbox; shown to staff)
    mail_failed_at: Mapped[dt.datetime | None] = column_property(
        failed_since(sa.literal("registration:") + sa.cast(id, sa.String)))

    event: Mapped[Event] = relationship(back_populates="registrations")


#: whom a staff message about an event goes to (``EventMessage.audience``), as the form says it
AUDIENCE_PLACES, AUDIENCE_WAITING, AUDIENCE_BOTH = "places", "waiting", "both"
AUDIENCES = {
    AUDIENCE_PLACES: "Everyone with a place",
    AUDIENCE_WAITING: "Everyone on the waiting list",
    AUDIENCE_BOTH: "Both: everyone with a place or on the waiting list",
}


class EventMessage(Base):
    """A message staff sent to everyone with a place, on the waiting list, or both."""

    __tablename__ = "event_messages"
    __table_args__ = (
        sa.CheckConstraint("audience IN ('places', 'waiting', 'both')", name="audience_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    sent_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(sa.String(SUBJECT_LENGTH))
    body: Mapped[str] = mapped_column(sa.Text)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: AUDIENCE_PLACES, AUDIENCE_WAITING or AUDIENCE_BOTH
    audience: Mapped[str] = mapped_column(sa.String(10), default=AUDIENCE_PLACES,
                                          server_default=AUDIENCE_PLACES)
    #: how many people it went to, and for how many sending failed
    recipients: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)
