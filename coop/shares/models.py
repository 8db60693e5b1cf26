"""Share-buying and supporter enquiries, their status history and staff notes."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from coop.db import Base, UTCDateTime, now_utc
from coop.formatting import LONDON, folded
from coop.outbox import OutboxMessage
from coop.outbox import Status as MailStatus

if TYPE_CHECKING:
    from coop.accounts.models import User

#: field maxima, shared by the forms and the columns
NAME_MAX = 200
EMAIL_MAX = 254
PHONE_MAX = 40
ADDRESS_MAX = 500
POSTCODE_MAX = 16
COUNTRY_MAX = 2
MEMBER_NUMBER_MAX = 20
NOTE_MAX = 2000
#: a status change's reason or details (a reopening's reason, a payment's summary)
DETAIL_MAX = 500
#: the longest status value ("payment_received")
STATUS_MAX = 20
#: a form's submission key (22 characters of base64: 128 random bits)
SUBMISSION_KEY_MAX = 32


class Kind(enum.StrEnum):
    SHARES = "shares"
    SUPPORTER = "supporter"

    @property
    def label(self) -> str:
        return {"shares": "Shares", "supporter": "Supporter"}[self.value]

    @property
    def prefix(self) -> str:
        return {"shares": "SH", "supporter": "SU"}[self.value]


class Status(enum.StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    PAYMENT_RECEIVED = "payment_received"
    #: shares only: the reader is on the register of members
    ADMITTED = "admitted"
    #: supporters only: the gift is set up
    COMPLETED = "completed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def closes(self) -> bool:
        return self in CLOSED


CLOSED = (Status.ADMITTED, Status.COMPLETED, Status.DECLINED, Status.WITHDRAWN)


def transitions(kind: Kind | str, status: Status | str) -> tuple[Status, ...]:
    """The valid next steps, the natural one first.

    ``new → contacted → payment received → admitted`` (shares) or ``completed``
    (supporters); declined or withdrawn from any open status. A closed enquiry has no next
    step: staff reopen it (with a reason) instead.
    """
    status = Status(status)
    finish = Status.ADMITTED if Kind(kind) == Kind.SHARES else Status.COMPLETED
    return {
        Status.NEW: (Status.CONTACTED, Status.PAYMENT_RECEIVED, Status.DECLINED,
                     Status.WITHDRAWN),
        Status.CONTACTED: (Status.PAYMENT_RECEIVED, Status.DECLINED, Status.WITHDRAWN),
        Status.PAYMENT_RECEIVED: (finish, Status.DECLINED, Status.WITHDRAWN),
    }.get(status, ())


class PaymentMethod(enum.StrEnum):
    CHEQUE = "cheque"
    BANK_TRANSFER = "bank_transfer"
    CARD_BY_PHONE = "card_by_phone"

    @property
    def label(self) -> str:
        return {
            "cheque": "Cheque",
            "bank_transfer": "Bank transfer",
            "card_by_phone": "Card, by phone",
        }[self.value]


class PaidMethod(enum.StrEnum):
    """How a payment for shares or a supporter's gift actually arrived."""

    BANK_TRANSFER = "bank_transfer"
    CHEQUE = "cheque"
    CASH = "cash"
    ONLINE = "online"

    @property
    def label(self) -> str:
        return {"bank_transfer": "Bank transfer", "cheque": "Cheque", "cash": "Cash",
                "online": "Online"}[self.value]

    @property
    def how(self) -> str:
        """In a sentence: "£50 by cheque", "£250 paid online" (QA: "£250 by online")."""
        return {"bank_transfer": "by bank transfer", "cheque": "by cheque", "cash": "in cash",
                "online": "paid online"}[self.value]


class Frequency(enum.StrEnum):
    ONE_OFF = "one_off"
    MONTHLY = "monthly"

    @property
    def label(self) -> str:
        return {"one_off": "One-off", "monthly": "Monthly"}[self.value]


def _in(column: str, enum_cls) -> str:
    values = ", ".join(f"'{m.value}'" for m in enum_cls)
    return f"{column} IN ({values})"


class Enquiry(Base):
    """One enquiry to buy shares (``kind='shares'``) or to become a supporter."""

    __tablename__ = "share_enquiries"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", Kind), name="kind_valid"),
        sa.CheckConstraint(_in("status", Status), name="status_valid"),
        sa.CheckConstraint("amount_pence > 0", name="amount_positive"),
        sa.CheckConstraint("kind <> 'shares' OR amount_pence % 100 = 0",
                           name="shares_whole_pounds"),
        sa.CheckConstraint(
            "payment_method IS NULL OR " + _in("payment_method", PaymentMethod),
            name="payment_method_valid",
        ),
        sa.CheckConstraint(
            "frequency IS NULL OR " + _in("frequency", Frequency), name="frequency_valid"
        ),
        sa.CheckConstraint("kind <> 'supporter' OR frequency IS NOT NULL",
                           name="supporter_has_frequency"),
        sa.CheckConstraint("paid_pence IS NULL OR paid_pence > 0", name="paid_positive"),
        sa.CheckConstraint("kind <> 'shares' OR paid_pence IS NULL OR paid_pence % 100 = 0",
                           name="shares_paid_whole_pounds"),
        sa.CheckConstraint("paid_method IS NULL OR " + _in("paid_method", PaidMethod),
                           name="paid_method_valid"),
        sa.CheckConstraint("(paid_pence IS NULL) = (paid_on IS NULL) AND "
                           "(paid_pence IS NULL) = (paid_method IS NULL)",
                           name="payment_complete"),
        sa.CheckConstraint("kind = 'shares' OR membership_number IS NULL",
                           name="only_shares_admitted"),
        # SQLite ignores VARCHAR lengths; these hold the maxima on every database.
        *(sa.CheckConstraint(f"length({column}) <= {limit}", name=f"{column}_length")
          for column, limit in (("name", NAME_MAX), ("email", EMAIL_MAX), ("phone", PHONE_MAX),
                                ("address", ADDRESS_MAX), ("postcode", POSTCODE_MAX),
                                ("member_number", MEMBER_NUMBER_MAX))),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: e.g. "SH-2026-000123": prefix, year received (London), the id; set right after insert
    reference: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(10), index=True)
    status: Mapped[str] = mapped_column(sa.String(STATUS_MAX), default=Status.NEW.value,
                                        index=True)
    #: in pence; shares are £1 each, so a whole number of pounds for kind "shares"
    amount_pence: Mapped[int]
    #: supporters only: one-off or monthly
    frequency: Mapped[str | None] = mapped_column(sa.String(10))
    #: shares only: how they would like to pay
    payment_method: Mapped[str | None] = mapped_column(sa.String(20))
    existing_holder: Mapped[bool] = mapped_column(default=False)
    #: what the reader typed as their existing member number (not checked)
    member_number: Mapped[str] = mapped_column(sa.String(MEMBER_NUMBER_MAX), default="")

    # The payment, as staff recorded it ("payment received").
    #: in pence; for shares a whole number of pounds (the shares allotted on admission)
    paid_pence: Mapped[int | None]
    #: the day it arrived (Europe/London calendar date)
    paid_on: Mapped[dt.date | None]
    paid_method: Mapped[str | None] = mapped_column(sa.String(20))
    #: on admission: the membership number in the register of members, and the allotment
    #: (its ledger line, for the certificate); no foreign key, the register is its own feature
    membership_number: Mapped[int | None] = mapped_column(index=True)
    allotment_id: Mapped[int | None]

    # Personal data: blanked by erase().
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX), default="")
    #: the name as searches compare it (coop.formatting.folded), kept by _fold_name below
    name_folded: Mapped[str] = mapped_column(sa.String(NAME_MAX), default="", server_default="")
    #: stored as typed but stripped; searched case-insensitively
    email: Mapped[str] = mapped_column(sa.String(EMAIL_MAX), default="", index=True)
    phone: Mapped[str] = mapped_column(sa.String(PHONE_MAX), default="")
    address: Mapped[str] = mapped_column(sa.String(ADDRESS_MAX), default="")
    postcode: Mapped[str] = mapped_column(sa.String(POSTCODE_MAX), default="")
    #: ISO 3166 alpha-2 code, e.g. "GB"
    country: Mapped[str] = mapped_column(sa.String(COUNTRY_MAX), default="")

    #: when they ticked "you may contact me about this enquiry" (required)
    contact_consent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    newsletter_opt_in: Mapped[bool] = mapped_column(default=False)
    #: when they ticked the newsletter box; null when they did not
    newsletter_consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: the reader was logged in when they sent it (``user_id`` may be set later: at admission,
    #: or when they make an account with the same email)
    sent_signed_in: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: the random key the form carried (one per form drawn): the same form sent twice (a
    #: double click, Back and send again) finds the enquiry it made instead of making another
    submission_key: Mapped[str | None] = mapped_column(sa.String(SUBMISSION_KEY_MAX),
                                                       unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc,
                                                    onupdate=now_utc)
    #: when it was closed (admitted, completed, declined, withdrawn); purge counts from here
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    #: when the acknowledgement was written to the outbox (delivered after the commit)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    #: an email about this enquiry to its address is not delivered and has failed at least once
    #: (from the outbox: staff see the flag, and "Try again" on the enquiry's page or
    #: /staff/mail); one to an address since corrected doesn't count
    email_failed: Mapped[bool] = column_property(
        sa.exists().where(OutboxMessage.about == reference,
                          sa.func.lower(OutboxMessage.to_address) == sa.func.lower(email),
                          OutboxMessage.status != MailStatus.SENT.value,
                          OutboxMessage.last_error != "")
    )

    user: Mapped[User | None] = relationship()
    changes: Mapped[list[StatusChange]] = relationship(
        back_populates="enquiry", cascade="all, delete-orphan", order_by="StatusChange.id",
        passive_deletes=True,
    )
    notes: Mapped[list[Note]] = relationship(
        back_populates="enquiry", cascade="all, delete-orphan", order_by="Note.id",
        passive_deletes=True,
    )

    @property
    def kind_enum(self) -> Kind:
        return Kind(self.kind)

    @property
    def status_enum(self) -> Status:
        return Status(self.status)

    @property
    def next_statuses(self) -> tuple[Status, ...]:
        return transitions(self.kind, self.status)

    @property
    def is_closed(self) -> bool:
        return self.status_enum in CLOSED

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    @property
    def payment_label(self) -> str:
        return PaymentMethod(self.payment_method).label if self.payment_method else ""

    @property
    def paid_method_label(self) -> str:
        return PaidMethod(self.paid_method).label if self.paid_method else ""

    @property
    def paid_how(self) -> str:
        return PaidMethod(self.paid_method).how if self.paid_method else ""

    @property
    def can_reopen(self) -> bool:
        """Closed, and not on the register: an allotment is corrected in the register."""
        return self.is_closed and self.allotment_id is None and not self.is_erased

    @property
    def frequency_label(self) -> str:
        return Frequency(self.frequency).label if self.frequency else ""

    @property
    def country_name(self) -> str:
        from coop.shares.countries import country_name

        return country_name(self.country)

    @property
    def shares_count(self) -> int | None:
        return self.amount_pence // 100 if self.kind == Kind.SHARES else None

    def make_reference(self) -> str:
        year = self.created_at.astimezone(LONDON).year
        return f"{self.kind_enum.prefix}-{year}-{self.id:06d}"


class StatusChange(Base):
    """One move in the workflow: who moved the enquiry from which status to which, and when."""

    __tablename__ = "share_enquiry_changes"
    __table_args__ = (
        sa.CheckConstraint(f"length(detail) <= {DETAIL_MAX}", name="detail_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enquiry_id: Mapped[int] = mapped_column(
        sa.ForeignKey("share_enquiries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: the staff member; null for the system or a deleted account
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    old_status: Mapped[str] = mapped_column(sa.String(STATUS_MAX))
    new_status: Mapped[str] = mapped_column(sa.String(STATUS_MAX))
    #: why (a reopening, a decline) or what (the payment, the membership number)
    detail: Mapped[str] = mapped_column(sa.String(DETAIL_MAX), default="")

    enquiry: Mapped[Enquiry] = relationship(back_populates="changes")
    by: Mapped[User | None] = relationship()


class Note(Base):
    """An internal note by staff; never shown to the reader, removed by erase."""

    __tablename__ = "share_enquiry_notes"
    __table_args__ = (
        sa.CheckConstraint(f"length(body) <= {NOTE_MAX}", name="body_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enquiry_id: Mapped[int] = mapped_column(
        sa.ForeignKey("share_enquiries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    #: written by the website itself (a payment, a refund, an account deleted), not by staff:
    #: with no ``by``, this tells it from a note whose author's account was deleted
    automatic: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    body: Mapped[str] = mapped_column(sa.String(NOTE_MAX))

    enquiry: Mapped[Enquiry] = relationship(back_populates="notes")
    by: Mapped[User | None] = relationship()


@sa.event.listens_for(Enquiry, "before_insert")
@sa.event.listens_for(Enquiry, "before_update")
def _fold_name(_mapper, _connection, enquiry: Enquiry) -> None:
    enquiry.name_folded = folded(enquiry.name)[:NAME_MAX]
