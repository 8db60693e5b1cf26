"""Online payments through Stripe: checkouts started on the site, the money each recorded
payment moved, and every webhook event received (kept once, by Stripe's event id)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from coop.db import Base, UTCDateTime, now_utc

#: what a checkout pays for
PURPOSES = ("gift", "supporter", "shares")
#: Stripe Checkout modes we use
MODES = ("payment", "subscription")
#: a checkout's life: created (sent to Stripe), paid, ended (a subscription that stopped)
CHECKOUT_STATUSES = ("created", "paid", "ended")
#: a payment's kind: a one-off payment, one invoice of a subscription, a refund, a dispute lost
PAYMENT_KINDS = ("payment", "invoice", "refund", "dispute")
#: what became of a webhook event
EVENT_STATUSES = ("processed", "ignored", "unplaced", "mismatch", "failed")
#: events that wait for staff
OPEN_EVENT_STATUSES = ("unplaced", "mismatch", "failed")
#: how staff pages name each (QA: the raw words "unplaced", "ignored")
EVENT_STATUS_LABELS = {
    "processed": "Recorded",
    "ignored": "Nothing to do (or dismissed)",
    "unplaced": "Waiting for you: no campaign took it",
    "mismatch": "Waiting for you: the amount didn't match",
    "failed": "Waiting for you: it failed",
}

TOKEN_MAX = 64
STRIPE_ID_MAX = 255
NAME_MAX = 120
TOWN_MAX = 80
MESSAGE_MAX = 500
ERROR_MAX = 500
CHECKOUT_URL_MAX = 2000


def _in(column: str, values) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Checkout(Base):
    """One reader's trip to Stripe Checkout: what they chose on our page, and (once it is
    paid) the Stripe ids that tie later events back to it."""

    __tablename__ = "payment_checkouts"
    __table_args__ = (
        sa.CheckConstraint("amount_pence > 0", name="amount_positive"),
        sa.CheckConstraint(_in("purpose", PURPOSES), name="purpose_valid"),
        sa.CheckConstraint(_in("mode", MODES), name="mode_valid"),
        sa.CheckConstraint(_in("status", CHECKOUT_STATUSES), name="status_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: random, unguessable; names the checkout in our return URLs and Stripe's idempotency key
    token: Mapped[str] = mapped_column(sa.String(TOKEN_MAX), unique=True)
    purpose: Mapped[str] = mapped_column(sa.String(10))
    mode: Mapped[str] = mapped_column(sa.String(12))
    #: in pence, > 0: the one payment, or each month's
    amount_pence: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(10), default="created", index=True)
    #: gifts: the campaign the reader gave to (monthly gifts go to each month's campaign)
    campaign_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("fund_campaigns.id", ondelete="SET NULL"), index=True)
    #: supporter pledges and share enquiries paid online
    enquiry_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("share_enquiries.id", ondelete="SET NULL"), index=True)
    donor_name: Mapped[str | None] = mapped_column(sa.String(NAME_MAX))
    donor_town: Mapped[str | None] = mapped_column(sa.String(TOWN_MAX))
    #: a message for the thanks list (printed with the name when may_thank)
    message: Mapped[str | None] = mapped_column(sa.String(MESSAGE_MAX))
    #: the donor agreed to be thanked by name in print and on the site
    may_thank: Mapped[bool] = mapped_column(default=False)
    stripe_session_id: Mapped[str | None] = mapped_column(sa.String(STRIPE_ID_MAX), unique=True)
    #: Stripe's hosted page for this session, where our hand-off page sends the reader
    checkout_url: Mapped[str | None] = mapped_column(sa.String(CHECKOUT_URL_MAX))
    stripe_subscription_id: Mapped[str | None] = mapped_column(sa.String(STRIPE_ID_MAX),
                                                               unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(STRIPE_ID_MAX))
    #: test-mode objects link to the test dashboard
    livemode: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: a subscription that Stripe reports cancelled
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_monthly(self) -> bool:
        return self.mode == "subscription"


class Payment(Base):
    """Money that moved through Stripe, recorded once: ``stripe_ref`` is the payment intent of
    a one-off payment, the invoice of a monthly one, ``<charge>:refunded:<total>`` for a refund
    and the dispute id for a dispute lost. Two events about one payment meet on it."""

    __tablename__ = "payment_payments"
    __table_args__ = (
        sa.CheckConstraint("amount_pence <> 0", name="amount_not_zero"),
        sa.CheckConstraint(_in("kind", PAYMENT_KINDS), name="kind_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_ref: Mapped[str] = mapped_column(sa.String(STRIPE_ID_MAX), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    #: in pence: > 0 money in, < 0 refunds and disputes lost
    amount_pence: Mapped[int]
    #: the day the money moved (Europe/London calendar date)
    received_on: Mapped[dt.date]
    checkout_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("payment_checkouts.id", ondelete="SET NULL"), index=True)
    #: the ledger entry it made, for gifts
    entry_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("fund_entries.id", ondelete="RESTRICT"), unique=True)
    #: the Stripe objects to link to from staff pages
    payment_intent_id: Mapped[str | None] = mapped_column(sa.String(STRIPE_ID_MAX), index=True)
    charge_id: Mapped[str | None] = mapped_column(sa.String(STRIPE_ID_MAX), index=True)
    invoice_id: Mapped[str | None] = mapped_column(sa.String(STRIPE_ID_MAX))
    #: the event that recorded it
    event_id: Mapped[str] = mapped_column(sa.String(STRIPE_ID_MAX))
    livemode: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)


class WebhookEvent(Base):
    """Every signed event Stripe sent, kept once by its id with what became of it."""

    __tablename__ = "payment_webhook_events"
    __table_args__ = (
        sa.CheckConstraint(_in("status", EVENT_STATUSES), name="status_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(STRIPE_ID_MAX), unique=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    #: the body exactly as signed (JSON text), so staff can retry it later
    payload: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), index=True)
    #: why it is unplaced, mismatched or failed; what it recorded otherwise
    detail: Mapped[str] = mapped_column(sa.String(ERROR_MAX), default="")
    livemode: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=1)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_EVENT_STATUSES

    @property
    def status_label(self) -> str:
        return EVENT_STATUS_LABELS.get(self.status, self.status)
