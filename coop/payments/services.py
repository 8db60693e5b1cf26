"""Payment rules: start a Checkout, record what Stripe's events report exactly once, and let
staff place or retry what could not place itself.

Plain functions over a session: they flush, never commit. Money reaches the fund ledger only
through :func:`coop.fund.services.add_entry`, so the running total stays exact. Every event
is kept once by its Stripe id (a unique constraint); every payment is recorded once by its
Stripe reference (another unique constraint), so the same event twice, or two events about one
payment, never count twice, however they arrive.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coop import audit
from coop.db import now_utc
from coop.formatting import money, with_the
from coop.fund import services as fund
from coop.fund.models import Campaign, Entry
from coop.payments import gateway
from coop.payments.models import (
    MESSAGE_MAX,
    NAME_MAX,
    OPEN_EVENT_STATUSES,
    TOWN_MAX,
    Checkout,
    Payment,
    WebhookEvent,
)
from coop.timeutil import london_today

log = logging.getLogger(__name__)

#: the smallest online payment: £1
MIN_PENCE = 100
#: how ledger entries made from Stripe say where they came from
VIA = "stripe"
#: Stripe Checkout sessions expire after 24 hours; we stop offering (or reusing) one a bit before
CHECKOUT_LIFETIME = dt.timedelta(hours=23)


class PaymentError(Exception):
    """A payment rule refused the request; ``field`` names the input at fault (or None)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


# ---------------------------------------------------------------------------------------------
# Amounts and campaigns


def preset_amounts() -> list[int]:
    """``PAYMENTS_PRESET_POUNDS`` ("5 10 25 50" or a list) as pence, smallest first."""
    value = current_app.config["PAYMENTS_PRESET_POUNDS"]
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    pence = sorted({int(item) * 100 for item in items if int(item) > 0})
    return [p for p in pence if MIN_PENCE <= p <= fund.max_gift_pence()]


def check_gift_amount(amount_pence: int) -> None:
    """:raise PaymentError: below £1 or above the fund's gift limit."""
    if amount_pence < MIN_PENCE:
        raise PaymentError(f"The smallest gift we can take online is {money(MIN_PENCE)}.",
                           field="amount")
    limit = fund.max_gift_pence()
    if amount_pence > limit:
        raise PaymentError(f"The most we accept as one gift is {money(limit)}.",
                           field="amount")


def open_campaign_on(session: Session, day: dt.date) -> Campaign | None:
    """The campaign taking gifts on ``day``: open that day and not closed by staff."""
    return session.scalar(
        sa.select(Campaign)
        .where(Campaign.closed_at.is_(None), Campaign.opens_on <= day, Campaign.deadline >= day)
        .order_by(Campaign.opens_on, Campaign.id)
        .limit(1)
    )


def _takes_entries(campaign: Campaign | None, day: dt.date) -> bool:
    return (campaign is not None and campaign.closed_at is None
            and campaign.opens_on <= day <= campaign.deadline)


def london_day(timestamp) -> dt.date:
    try:
        moment = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        moment = now_utc()
    return min(london_today(moment), london_today())


# ---------------------------------------------------------------------------------------------
# Starting a Checkout


def _clean(value: str | None, limit: int) -> str | None:
    value = " ".join((value or "").split())
    return value[:limit] or None


def start_gift(session: Session, campaign: Campaign, amount_pence: int, *, monthly: bool,
               donor_name: str | None = None, donor_town: str | None = None,
               message: str | None = None, may_thank: bool = False) -> tuple[Checkout, str]:
    """Save the reader's choice and create its Stripe Checkout session; return the checkout
    and the address of Stripe's hosted page to send the reader to.

    :raise PaymentError: an amount out of bounds, or a campaign not taking gifts.
    :raise gateway.GatewayError: Stripe could not be reached (the caller rolls back).
    """
    check_gift_amount(amount_pence)
    today = london_today()
    if not _takes_entries(campaign, today):
        raise PaymentError(f"{campaign.name} is not taking gifts today.")
    donor_name = _clean(donor_name, NAME_MAX)
    checkout = Checkout(
        token=secrets.token_urlsafe(24), purpose="gift",
        mode="subscription" if monthly else "payment", amount_pence=amount_pence,
        campaign_id=campaign.id, donor_name=donor_name,
        donor_town=_clean(donor_town, TOWN_MAX), message=_clean(message, MESSAGE_MAX),
        may_thank=bool(may_thank and donor_name),
    )
    description = (f"Monthly gift to {with_the(current_app.config['SITE_NAME'])} fighting fund"
                   if monthly else f"Gift to {campaign.name}")
    return _send_to_stripe(session, checkout, description, campaign=campaign)


def start_enquiry_payment(session: Session, enquiry) -> tuple[Checkout, str]:
    """Pay a share enquiry (one payment for its amount) or a supporter pledge (one payment,
    or monthly by subscription when the pledge is monthly)."""
    from coop.shares.models import Frequency, Kind

    if enquiry.is_erased or enquiry.is_closed:
        raise PaymentError("This enquiry is closed; please contact the membership secretary.")
    if nothing_to_pay(session, enquiry):
        raise PaymentError("This has been paid already, so nothing more was taken.")
    if enquiry.amount_pence < MIN_PENCE:
        raise PaymentError(f"The smallest payment we can take online is {money(MIN_PENCE)}.")
    open_ = open_checkout(session, enquiry)
    if open_ is not None:  # pressed twice, or from the page and the email: one payment page
        return open_, open_.checkout_url
    shares = enquiry.kind == Kind.SHARES
    monthly = not shares and enquiry.frequency == Frequency.MONTHLY
    checkout = Checkout(
        token=secrets.token_urlsafe(24), purpose="shares" if shares else "supporter",
        mode="subscription" if monthly else "payment", amount_pence=enquiry.amount_pence,
        enquiry_id=enquiry.id,
    )
    site = current_app.config["SITE_NAME"]
    if shares:
        description = f"{enquiry.amount_pence // 100:,} shares ({enquiry.reference})"
    else:
        description = (f"Monthly support for {site} ({enquiry.reference})" if monthly
                       else f"Support for {site} ({enquiry.reference})")
    return _send_to_stripe(session, checkout, description, customer_email=enquiry.email or None)


def _send_to_stripe(session: Session, checkout: Checkout, description: str, *,
                    campaign: Campaign | None = None,
                    customer_email: str | None = None) -> tuple[Checkout, str]:
    session.add(checkout)
    session.flush()
    params = gateway.checkout_params(checkout, description=description, campaign=campaign,
                                     customer_email=customer_email)
    session_id, url = gateway.create_checkout_session(
        params, idempotency_key=f"coop-checkout-{checkout.token}")
    checkout.stripe_session_id = session_id
    checkout.checkout_url = url
    session.flush()
    audit.record(session, "payment.checkout_started", "payment_checkout", checkout.id,
                 purpose=checkout.purpose, mode=checkout.mode,
                 amount_pence=checkout.amount_pence, stripe_session=session_id)
    return checkout, url


def checkout_by_token(session: Session, token: str) -> Checkout | None:
    if not token or len(token) > 64:
        return None
    return session.scalar(sa.select(Checkout).where(Checkout.token == token))


def payments_of(session: Session, checkout: Checkout) -> list[Payment]:
    return list(session.scalars(
        sa.select(Payment).where(Payment.checkout_id == checkout.id).order_by(Payment.id)))


# ---------------------------------------------------------------------------------------------
# Webhook events


@dataclass(frozen=True)
class Placement:
    """Staff's answer for an event that could not place itself."""

    campaign: Campaign
    received_on: dt.date
    by: object = None


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: str
    #: the staff form's field the detail is about, when it is about one ("received_on")
    field: str | None = None


class DuplicateEvent(Exception):
    """The event was received before: nothing was done."""


def receive_event(session: Session, event: dict, payload: str) -> WebhookEvent:
    """Keep a verified event (once: its id is unique) and act on it.

    The INSERT of the event comes first, so on SQLite it takes the write lock before anything
    is read, and on PostgreSQL a second delivery of the same event waits for the first and
    then fails on the unique id.

    :raise DuplicateEvent: this event id was received before (the caller rolls back).
    """
    stored = WebhookEvent(event_id=event["id"], type=event["type"][:100], payload=payload,
                          status="processed", livemode=bool(event.get("livemode")))
    session.add(stored)
    try:
        session.flush()
    except IntegrityError:
        raise DuplicateEvent(event["id"]) from None
    _process(session, stored, event)
    return stored


def _process(session: Session, stored: WebhookEvent, event: dict,
             placement: Placement | None = None) -> Outcome:
    handler = HANDLERS.get(stored.type)
    if handler is None:
        outcome = Outcome("ignored", "Not an event this site acts on.")
    else:
        try:
            with session.begin_nested():
                outcome = handler(session, event["data"]["object"], event, placement)
        except Exception as err:  # noqa: BLE001 - kept for staff to retry, never lost
            log.exception("Stripe event %s (%s) failed", stored.event_id, stored.type)
            outcome = Outcome("failed", f"{type(err).__name__}: {err}")
    stored.status = outcome.status
    stored.detail = outcome.detail[:500]
    stored.processed_at = now_utc()
    session.flush()
    return outcome


def retry_event(session: Session, stored: WebhookEvent, *, by=None,
                placement: Placement | None = None) -> Outcome:
    """Act on a kept event again (after a campaign opened, or a fix); with a ``placement``,
    record it in that campaign on that day, taking the amount Stripe reports.

    :raise PaymentError: the event is not waiting for staff.
    """
    if stored.status not in OPEN_EVENT_STATUSES:
        raise PaymentError("That event has already been dealt with.")
    stored.attempts += 1
    outcome = _process(session, stored, json.loads(stored.payload), placement)
    audit.record(session, "payment.event_assigned" if placement else "payment.event_retried",
                 "payment_event", stored.event_id, by=by, status=outcome.status,
                 campaign=placement.campaign.slug if placement else None)
    return outcome


def dismiss_event(session: Session, stored: WebhookEvent, *, reason: str, by=None) -> None:
    """Staff decided an event needs nothing from the site (e.g. a refund of a payment made
    elsewhere). The reason is kept."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise PaymentError("Say why it needs nothing.", field="reason")
    if stored.status not in OPEN_EVENT_STATUSES:
        raise PaymentError("That event has already been dealt with.")
    stored.status = "ignored"
    stored.detail = f"Dismissed: {reason}"[:500]
    stored.processed_at = now_utc()
    session.flush()
    audit.record(session, "payment.event_dismissed", "payment_event", stored.event_id, by=by,
                 reason=reason[:200])


def open_events(session: Session) -> list[WebhookEvent]:
    return list(session.scalars(
        sa.select(WebhookEvent).where(WebhookEvent.status.in_(OPEN_EVENT_STATUSES))
        .order_by(WebhookEvent.received_at, WebhookEvent.id)))


def recent_events(session: Session, limit: int = 50) -> list[WebhookEvent]:
    return list(session.scalars(
        sa.select(WebhookEvent).order_by(WebhookEvent.id.desc()).limit(limit)))


def payment_for_entries(session: Session, entry_ids) -> dict[int, Payment]:
    """The Stripe payment behind each ledger entry (for the staff ledger's links)."""
    ids = list(entry_ids)
    if not ids:
        return {}
    rows = session.scalars(sa.select(Payment).where(Payment.entry_id.in_(ids)))
    return {p.entry_id: p for p in rows}


# ---------------------------------------------------------------------------------------------
# Reading Stripe objects (plain dicts from the signed JSON)


def _id(value) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and 0 < len(value) <= 255 else None


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _metadata(obj: dict) -> dict:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _find_checkout(session: Session, *, metadata: dict, session_id: str | None = None,
                   subscription_id: str | None = None,
                   token: str | None = None) -> Checkout | None:
    if session_id:
        found = session.scalar(sa.select(Checkout).where(Checkout.stripe_session_id == session_id))
        if found:
            return found
    if subscription_id:
        found = session.scalar(
            sa.select(Checkout).where(Checkout.stripe_subscription_id == subscription_id))
        if found:
            return found
    token = token or metadata.get("coop_token")
    return checkout_by_token(session, token) if isinstance(token, str) else None


def _invoice_subscription(invoice: dict) -> tuple[str | None, dict]:
    """The subscription an invoice belongs to and its metadata, in the old and new shapes."""
    parent = invoice.get("parent") if isinstance(invoice.get("parent"), dict) else {}
    details = (parent.get("subscription_details") or invoice.get("subscription_details")
               or {})
    details = details if isinstance(details, dict) else {}
    sub = _id(invoice.get("subscription")) or _id(details.get("subscription"))
    meta = details.get("metadata") if isinstance(details.get("metadata"), dict) else {}
    return sub, meta


def _invoice_payment_ids(invoice: dict) -> tuple[str | None, str | None]:
    """(payment intent, charge) of an invoice, where the event carries them."""
    intent, charge = _id(invoice.get("payment_intent")), _id(invoice.get("charge"))
    payments = invoice.get("payments")
    if not intent and isinstance(payments, dict):
        for item in payments.get("data") or []:
            payment = item.get("payment") if isinstance(item, dict) else None
            if isinstance(payment, dict):
                intent = intent or _id(payment.get("payment_intent"))
                charge = charge or _id(payment.get("charge"))
    return intent, charge


# ---------------------------------------------------------------------------------------------
# Recording


def _gift_campaign(session: Session, checkout: Checkout | None, day: dt.date,
                   preferred: Campaign | None, placement: Placement | None):
    if placement is not None:
        return placement.campaign, placement.received_on
    if _takes_entries(preferred, day):
        return preferred, day
    return open_campaign_on(session, day), day


def _record(session: Session, event: dict, *, checkout: Checkout | None, kind: str, ref: str,
            amount_pence: int, day: dt.date, placement: Placement | None,
            preferred: Campaign | None = None, reason: str | None = None,
            in_fund: bool = True, payment_intent_id: str | None = None,
            charge_id: str | None = None, invoice_id: str | None = None,
            corrects: Entry | None = None) -> Outcome:
    """One Payment (unique ``ref``) and, for fund money, its ledger entry, or neither.
    ``corrects``: the gift a refund or lost dispute takes back, named by its correction, in
    whichever campaign each is (QA: a gift paid last month and refunded this month stayed
    thanked by name, and "Correct" offered to take it back a second time)."""
    if not ref:
        return Outcome("failed", "Stripe's event names no payment, invoice or charge id.")
    existing = session.scalar(sa.select(Payment).where(Payment.stripe_ref == ref))
    if existing is not None:
        return Outcome("processed", f"Already recorded (by {existing.event_id}).")
    campaign = None
    if in_fund:
        campaign, day = _gift_campaign(session, checkout, day, preferred, placement)
        if campaign is None:
            return Outcome("unplaced", f"No campaign takes gifts on {day:%-d %b %Y}: "
                                       f"{money(abs(amount_pence), always_pence=True)} "
                                       "waits for staff to assign it.")
    payment = Payment(stripe_ref=ref, kind=kind, amount_pence=amount_pence, received_on=day,
                      checkout_id=checkout.id if checkout else None, event_id=event["id"],
                      livemode=bool(event.get("livemode")), payment_intent_id=payment_intent_id,
                      charge_id=charge_id, invoice_id=invoice_id)
    try:
        with session.begin_nested():
            session.add(payment)
            session.flush()
            if campaign is not None:
                gift = amount_pence > 0 and checkout is not None
                decided = _last_decision(session, checkout) if gift and checkout.may_thank \
                    else None
                entry = fund.add_entry(
                    session, campaign, amount_pence, received_on=day, source="online",
                    by=getattr(placement, "by", None), via=VIA, reason=reason,
                    donor_name=checkout.donor_name if gift else None,
                    donor_town=checkout.donor_town if gift else None,
                    may_thank=gift and checkout.may_thank,
                    name_to_check=decided is None,
                    name_declined=decided == fund.THANKS_DECLINED,
                    corrects_id=corrects.id if corrects is not None else None,
                )
                payment.entry_id = entry.id
                session.flush()
    except IntegrityError:
        # Another event about the same payment recorded it first (concurrent delivery).
        return Outcome("processed", "Already recorded by another event.")
    except fund.FundError as err:
        return Outcome("unplaced", err.message,
                       field="received_on" if err.field == "received_on" else None)
    where = f" in {campaign.name}" if campaign is not None else ""
    return Outcome("processed",
                   f"Recorded {money(amount_pence, always_pence=True)}{where} ({ref}).")


def _last_decision(session: Session, checkout: Checkout) -> str | None:
    """What staff last decided about this checkout's name on its earlier payments ("shown" or
    "declined"; None if nobody has yet): a monthly gift pays again and again under one name,
    checked once, and its later payments follow the latest decision."""
    taken = sa.orm.aliased(Entry)
    taken_back = (sa.select(sa.func.coalesce(sa.func.sum(taken.amount_pence), 0))
                  .where(taken.corrects_id == Entry.id).scalar_subquery())
    return session.scalar(
        sa.select(Entry.thanks_check)
        .join(Payment, Payment.entry_id == Entry.id)
        .where(Payment.checkout_id == checkout.id, Entry.thanks_decided_at.is_not(None),
               # a month refunded in full says nothing of staff's decision (review)
               Entry.amount_pence + taken_back > 0)
        .order_by(Entry.thanks_decided_at.desc(), Entry.id.desc())
        .limit(1)
    )


def _note_enquiry(session: Session, checkout: Checkout | None, text: str) -> None:
    """A note on the supporter pledge or share enquiry the payment belongs to."""
    if checkout is None or checkout.enquiry_id is None:
        return
    from coop.shares import services as shares
    from coop.shares.models import Enquiry

    enquiry = session.get(Enquiry, checkout.enquiry_id)
    if enquiry is not None and not enquiry.is_erased:
        shares.add_note(session, enquiry, text, by=None)


def _enquiry_paid(session: Session, checkout: Checkout | None, amount_pence: int,
                  day: dt.date, text: str) -> None:
    """Move the share enquiry or supporter pledge to "payment received" through the
    enquiry workflow (method: online), and note the payment on it. A move the workflow
    refuses (already paid, closed) leaves the status as it is; the note says so."""
    if checkout is None or checkout.enquiry_id is None:
        return
    from coop.shares import services as shares
    from coop.shares.models import Enquiry, PaidMethod

    enquiry = session.get(Enquiry, checkout.enquiry_id)
    if enquiry is None or enquiry.is_erased:
        return
    if enquiry.paid_pence is not None:  # a Stripe page left open, paid after another payment
        shares.add_note(session, enquiry, (
            f"{text} PAID TWICE: {money(enquiry.paid_pence)} had already been received "
            f"({enquiry.paid_how}, {enquiry.paid_on.day} {enquiry.paid_on:%B %Y}). Ask the "
            "reader whether they meant to pay both, and refund this payment in Stripe if "
            "not."), by=None)
        log.warning("enquiry %s paid twice (checkout %s)", enquiry.reference, checkout.id)
        return
    try:
        with session.begin_nested():
            shares.record_payment(session, enquiry, amount_pence=amount_pence, received_on=day,
                                  method=PaidMethod.ONLINE, by=None)
    except shares.EnquiryError as err:
        session.refresh(enquiry)
        text = f"{text} Status left as it was: {err}"
    else:
        text = f"{text} Moved to payment received."
    shares.add_note(session, enquiry, text, by=None)


def _mark_paid(checkout: Checkout, event: dict) -> None:
    checkout.livemode = bool(event.get("livemode"))
    if checkout.status == "created":
        checkout.status = "paid"
        checkout.paid_at = now_utc()


def _campaign_of(session: Session, checkout: Checkout | None) -> Campaign | None:
    if checkout is None or checkout.campaign_id is None:
        return None
    return session.get(Campaign, checkout.campaign_id)


def _mismatch(checkout: Checkout, amount, currency) -> Outcome | None:
    if currency == gateway.CURRENCY and amount == checkout.amount_pence:
        return None
    took = (money(amount, always_pence=True) if _int(amount) is not None else repr(amount))
    return Outcome("mismatch", f"Stripe reports {took} ({currency}) but the reader chose "
                               f"{money(checkout.amount_pence, always_pence=True)}: "
                               "check it in Stripe, then assign it.")


def _checkout_completed(session, obj, event, placement) -> Outcome:
    if obj.get("payment_status") != "paid":
        return Outcome("ignored", "Not paid yet: Stripe sends "
                                  "checkout.session.async_payment_succeeded when it is.")
    checkout = _find_checkout(session, metadata=_metadata(obj), session_id=_id(obj.get("id")),
                              token=obj.get("client_reference_id"))
    if checkout is None:
        return Outcome("ignored", "Not a checkout started on this site.")
    checkout.stripe_customer_id = checkout.stripe_customer_id or _id(obj.get("customer"))
    _mark_paid(checkout, event)
    if obj.get("mode") == "subscription":
        subscription = _id(obj.get("subscription"))
        if subscription and not checkout.stripe_subscription_id:
            checkout.stripe_subscription_id = subscription
        session.flush()
        return Outcome("processed", f"Monthly payments set up ({subscription}); each month's "
                                    "payment is recorded when its invoice is paid.")
    amount, currency = _int(obj.get("amount_total")), obj.get("currency")
    if placement is None and (wrong := _mismatch(checkout, amount, currency)):
        return wrong
    if not amount or amount <= 0:
        return Outcome("ignored", "Nothing was paid.")
    intent = _id(obj.get("payment_intent"))
    outcome = _record(session, event, checkout=checkout, kind="payment",
                      ref=intent or _id(obj.get("id")), amount_pence=amount,
                      day=london_day(event.get("created")), placement=placement,
                      preferred=_campaign_of(session, checkout),
                      in_fund=checkout.purpose == "gift", payment_intent_id=intent)
    if outcome.status == "processed" and outcome.detail.startswith("Recorded"):
        _enquiry_paid(session, checkout, amount, london_day(event.get("created")),
                      f"Paid {money(amount, always_pence=True)} online by card (Stripe {intent}).")
        if intent:
            _retry_waiting_corrections(session, intent)
    return outcome


#: the events that take money back out: one that came before its payment waits, and is
#: acted on again once the payment is recorded
CORRECTING = ("charge.refunded", "charge.dispute.closed")


def _retry_waiting_corrections(session: Session, intent: str) -> None:
    """A refund or lost dispute that arrived before the payment it takes back (Stripe doesn't
    promise order) waited for staff, and the fund counted the whole gift (QA): acted on now.
    """
    waiting = session.scalars(
        sa.select(WebhookEvent)
        .where(WebhookEvent.type.in_(CORRECTING),
               WebhookEvent.status.in_(OPEN_EVENT_STATUSES),
               WebhookEvent.payload.contains(f'"{intent}"', autoescape=True))
        .order_by(WebhookEvent.received_at, WebhookEvent.id)).all()
    for stored in waiting:
        obj = (json.loads(stored.payload).get("data") or {}).get("object") or {}
        if isinstance(obj, dict) and obj.get("payment_intent") == intent:
            retry_event(session, stored)


def _invoice_paid(session, obj, event, placement) -> Outcome:
    amount = _int(obj.get("amount_paid"))
    if not amount or amount <= 0:
        return Outcome("ignored", "Nothing was paid on this invoice.")
    subscription, meta = _invoice_subscription(obj)
    if subscription is None:
        return Outcome("ignored", "Not an invoice of a subscription.")
    checkout = _find_checkout(session, metadata=meta, subscription_id=subscription)
    if checkout is None:
        return Outcome("ignored", "Not a subscription started on this site.")
    if not checkout.stripe_subscription_id:
        checkout.stripe_subscription_id = subscription  # the invoice came before the checkout
    _mark_paid(checkout, event)
    if placement is None and (wrong := _mismatch(checkout, amount, obj.get("currency"))):
        return wrong
    transitions = obj.get("status_transitions")
    paid_at = transitions.get("paid_at") if isinstance(transitions, dict) else None
    intent, charge = _invoice_payment_ids(obj)
    invoice = _id(obj.get("id"))
    outcome = _record(session, event, checkout=checkout, kind="invoice", ref=invoice,
                      amount_pence=amount, day=london_day(paid_at or event.get("created")),
                      placement=placement, in_fund=checkout.purpose == "gift",
                      payment_intent_id=intent, charge_id=charge, invoice_id=invoice)
    if outcome.status == "processed" and outcome.detail.startswith("Recorded"):
        text = (f"Monthly payment of {money(amount, always_pence=True)} received online "
                f"(Stripe {invoice}).")
        first = session.scalar(sa.select(sa.func.count()).select_from(Payment).where(
            Payment.checkout_id == checkout.id, Payment.kind == "invoice")) == 1
        if first:
            _enquiry_paid(session, checkout, amount, london_day(paid_at or event.get("created")),
                          text)
        else:
            _note_enquiry(session, checkout, text)
    return outcome


def _original_payment(session, *, intent: str | None, charge: str | None,
                      lock: bool = False) -> Payment | None:
    """The payment a refund or dispute is about; with ``lock``, its row is locked (PostgreSQL)
    so two refund events for one charge are worked out one after the other."""
    conditions = []
    if intent:
        conditions.append(Payment.payment_intent_id == intent)
    if charge:
        conditions.append(Payment.charge_id == charge)
    if not conditions:
        return None
    stmt = (sa.select(Payment).where(Payment.kind.in_(("payment", "invoice")),
                                     sa.or_(*conditions)).order_by(Payment.id).limit(1))
    return session.scalar(stmt.with_for_update() if lock else stmt)


def _correction(session, event, placement, *, kind: str, ref: str, amount_pence: int,
                intent, charge, reason: str) -> Outcome:
    original = _original_payment(session, intent=intent, charge=charge)
    day = london_day(event.get("created"))
    if original is None:
        if placement is None:
            return Outcome("unplaced", f"{reason}: this site has no record of the payment. "
                                       "If it was a gift, assign it; if not, dismiss it.")
        return _record(session, event, checkout=None, kind=kind, ref=ref,
                       amount_pence=amount_pence, day=day, placement=placement, reason=reason,
                       payment_intent_id=intent, charge_id=charge)
    checkout = session.get(Checkout, original.checkout_id) if original.checkout_id else None
    preferred = entry = None
    if original.entry_id is not None:
        entry = session.get(Entry, original.entry_id)
        preferred = session.get(Campaign, entry.campaign_id) if entry else None
    outcome = _record(session, event, checkout=checkout, kind=kind, ref=ref,
                      amount_pence=amount_pence, day=day, placement=placement,
                      preferred=preferred, reason=reason, in_fund=original.entry_id is not None,
                      payment_intent_id=intent or original.payment_intent_id, charge_id=charge,
                      corrects=entry)
    if outcome.status == "processed" and outcome.detail.startswith("Recorded"):
        _enquiry_refunded(session, checkout, f"{reason}: {money(-amount_pence)}")
        if entry is not None:
            corrected = fund.corrections_of(session, [entry.id]).get(entry.id)
            if corrected is not None and entry.amount_pence + corrected.pence <= 0:
                fund.gift_taken_back(session, entry)
    return outcome


def _enquiry_refunded(session: Session, checkout: Checkout | None, text: str) -> None:
    """A refund or lost dispute of a share or pledge payment (already recorded), noted on its
    enquiry. Once all that was paid online for the enquiry has gone back (every checkout of it
    counted), an enquiry still at "payment received" returns to "contacted" with no payment
    (QA: a share payment refunded in full still offered "Admit as a member"); an admitted one
    is flagged for the register."""
    if checkout is None or checkout.enquiry_id is None:
        return
    from coop.shares import services as shares
    from coop.shares.models import Enquiry, PaidMethod, Status

    enquiry = session.get(Enquiry, checkout.enquiry_id)
    if enquiry is None or enquiry.is_erased:
        return
    # what is still held from every payment of this enquiry (a second page paid too, say)
    left = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_pence), 0))
        .join(Checkout, Checkout.id == Payment.checkout_id)
        .where(Checkout.enquiry_id == enquiry.id)) or 0
    if left > 0:
        # QA: "£7.50. £7.50 of it is still paid" read as if about this refund
        note = f"{text} went back. {money(left)} paid online for this enquiry is still held."
    elif (enquiry.status_enum == Status.PAYMENT_RECEIVED
          and enquiry.paid_method == PaidMethod.ONLINE):
        try:
            with session.begin_nested():
                shares.payment_refunded(session, enquiry,
                                        detail=f"{text}: the whole payment went back")
        except shares.EnquiryError as err:
            session.refresh(enquiry)
            note = f"{text}. REFUNDED IN FULL; status left as it was: {err}"
        else:
            note = (f"{text}. REFUNDED IN FULL: moved back to contacted, with no payment "
                    "recorded.")
    elif enquiry.status_enum == Status.ADMITTED:
        note = (f"{text}. REFUNDED IN FULL after admission: if they are no longer to hold "
                "these shares, withdraw them in the register.")
    else:
        note = f"{text}. REFUNDED IN FULL."
    shares.add_note(session, enquiry, note, by=None)


def _charge_refunded(session, obj, event, placement) -> Outcome:
    charge = _id(obj.get("id"))
    total = _int(obj.get("amount_refunded"))
    if not charge or not total or total <= 0:
        return Outcome("ignored", "Nothing was refunded.")
    # Lock the refunded payment first: the amount already corrected is read after any other
    # refund event for this charge has been recorded.
    _original_payment(session, intent=_id(obj.get("payment_intent")), charge=charge, lock=True)
    already = -int(session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_pence), 0))
        .where(Payment.kind == "refund", Payment.charge_id == charge)) or 0)
    if total <= already:
        return Outcome("processed", "Already recorded.")
    refunds = (obj.get("refunds") or {}).get("data") if isinstance(obj.get("refunds"),
                                                                    dict) else None
    why = ""
    if refunds and isinstance(refunds[0], dict) and isinstance(refunds[0].get("reason"), str):
        why = f", {refunds[0]['reason'].replace('_', ' ')}"
    return _correction(session, event, placement, kind="refund",
                       ref=f"{charge}:refunded:{total}", amount_pence=-(total - already),
                       intent=_id(obj.get("payment_intent")), charge=charge,
                       reason=f"Refunded through Stripe ({charge}{why})")


def _dispute_closed(session, obj, event, placement) -> Outcome:
    if obj.get("status") != "lost":
        return Outcome("ignored", f"Dispute closed as {obj.get('status')!s:.20}: "
                                  "nothing to correct.")
    amount = _int(obj.get("amount"))
    dispute = _id(obj.get("id"))
    if not amount or amount <= 0 or not dispute:
        return Outcome("ignored", "A dispute with no amount.")
    why = str(obj.get("reason") or "").replace("_", " ")[:60]
    return _correction(session, event, placement, kind="dispute", ref=dispute,
                       amount_pence=-amount, intent=_id(obj.get("payment_intent")),
                       charge=_id(obj.get("charge")),
                       reason=f"Dispute lost in Stripe ({dispute}{', ' + why if why else ''})")


def _subscription_deleted(session, obj, event, placement) -> Outcome:
    checkout = _find_checkout(session, metadata=_metadata(obj),
                              subscription_id=_id(obj.get("id")))
    if checkout is None:
        return Outcome("ignored", "Not a subscription started on this site.")
    if checkout.status == "ended":
        return Outcome("processed", "Already ended.")
    checkout.status = "ended"
    checkout.ended_at = now_utc()
    checkout.stripe_subscription_id = checkout.stripe_subscription_id or _id(obj.get("id"))
    session.flush()
    _note_enquiry(session, checkout, "Monthly payments ended: the subscription was cancelled "
                                     f"in Stripe ({checkout.stripe_subscription_id}).")
    audit.record(session, "payment.subscription_ended", "payment_checkout", checkout.id,
                 subscription=checkout.stripe_subscription_id)
    return Outcome("processed", "Monthly payments ended.")


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "invoice.paid": _invoice_paid,
    "charge.refunded": _charge_refunded,
    "charge.dispute.closed": _dispute_closed,
    "customer.subscription.deleted": _subscription_deleted,
}
#: the events to send from Stripe (the README lists them too)
EVENT_TYPES = tuple(HANDLERS)


def enquiry_paid(session: Session, enquiry) -> Checkout | None:
    """The checkout that paid (or set up monthly payments for) an enquiry, if any; a one-off
    payment refunded in full doesn't count (review: the reader was told it was paid, and
    couldn't pay again)."""
    held = (sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_pence), 0))
            .where(Payment.checkout_id == Checkout.id).scalar_subquery())
    return session.scalar(
        sa.select(Checkout).where(Checkout.enquiry_id == enquiry.id,
                                  Checkout.status.in_(("paid", "ended")),
                                  sa.or_(Checkout.mode == "subscription", held > 0))
        .order_by(Checkout.id.desc()).limit(1))


def nothing_to_pay(session: Session, enquiry) -> bool:
    """Whether an enquiry's money is in: paid online, or a payment staff recorded (a cheque,
    a bank transfer). No further card payment is offered or handed on to Stripe then."""
    return enquiry.paid_pence is not None or enquiry_paid(session, enquiry) is not None


def open_checkout(session: Session, enquiry, *, now: dt.datetime | None = None
                  ) -> Checkout | None:
    """The enquiry's Stripe page still open for its amount (not paid, not expired), if any."""
    since = (now or now_utc()) - CHECKOUT_LIFETIME
    return session.scalar(
        sa.select(Checkout).where(Checkout.enquiry_id == enquiry.id,
                                  Checkout.status == "created",
                                  Checkout.checkout_url.is_not(None),
                                  Checkout.amount_pence == enquiry.amount_pence,
                                  Checkout.created_at > since)
        .order_by(Checkout.id.desc()).limit(1))
