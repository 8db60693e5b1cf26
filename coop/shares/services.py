"""Enquiry rules: taking an enquiry, the staff workflow, notes, erasure and purging.

Plain functions over a session; they flush, never commit, and raise :class:`EnquiryError`
(whose text is fit to show) when a rule is broken.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from coop import audit, limits, outbox
from coop.db import now_utc
from coop.formatting import blank_invisible, folded, joined, london_date, money
from coop.mail import normalise_email
from coop.register import services as register
from coop.shares.countries import UK, countries, country_name
from coop.shares.models import (
    ADDRESS_MAX,
    CLOSED,
    DETAIL_MAX,
    EMAIL_MAX,
    MEMBER_NUMBER_MAX,
    NAME_MAX,
    NOTE_MAX,
    PHONE_MAX,
    POSTCODE_MAX,
    Enquiry,
    Frequency,
    Kind,
    Note,
    PaidMethod,
    PaymentMethod,
    Status,
    StatusChange,
    transitions,
)
from coop.timeutil import LONDON, london_midnight


class EnquiryError(Exception):
    """A rule was broken; ``str(err)`` is fit to show."""


class InvalidTransition(EnquiryError):
    pass


# The shape of a UK postcode (not a check that it exists): outward code, space, inward code.
_UK_POSTCODE = re.compile(
    r"^(?:GIR ?0AA|(?:[A-PR-UWYZ][0-9][0-9A-HJKPSTUW]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9ABEHMNPRV-Y]?)"
    r" ?[0-9][ABD-HJLNP-UW-Z]{2})$"
)


def normalise_uk_postcode(text: str) -> str | None:
    """``"sw1a1aa"`` → ``"SW1A 1AA"``; None when it is not shaped like a UK postcode."""
    compact = re.sub(r"\s+", "", text or "").upper()
    if not _UK_POSTCODE.match(compact):
        return None
    return f"{compact[:-3]} {compact[-3:]}"


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    address: str
    postcode: str
    country: str = UK
    phone: str = ""


def _check_contact(contact: Contact) -> Contact:
    name = " ".join(blank_invisible(contact.name or "").split())
    email = (contact.email or "").strip()
    # a line that shows nothing (a zero-width space) is no line of an address (review)
    address = "\n".join(
        line.strip() for line in blank_invisible(contact.address or "", lines=True)
        .strip().splitlines() if line.strip()
    )
    phone = (contact.phone or "").strip()
    country = (contact.country or "").strip().upper()
    postcode = " ".join((contact.postcode or "").split()).upper()
    if not name:
        raise EnquiryError("Enter your full name.")
    if not email or "@" not in email:
        raise EnquiryError("Enter your email address.")
    if not address:
        raise EnquiryError("Enter your postal address.")
    if country_name(country) == country:
        raise EnquiryError("Choose a country from the list.")
    if country == UK:
        postcode = normalise_uk_postcode(postcode) or ""
        if not postcode:
            raise EnquiryError("Enter a UK postcode, like SW1A 1AA.")
    for value, limit, label in (
        (name, NAME_MAX, "name"), (email, EMAIL_MAX, "email"), (address, ADDRESS_MAX, "address"),
        (phone, PHONE_MAX, "phone number"), (postcode, POSTCODE_MAX, "postcode"),
    ):
        if len(value) > limit:
            raise EnquiryError(f"The {label} can be at most {limit} characters.")
    register_problem = register_text_problem(name, address, postcode, country)
    if register_problem:
        raise EnquiryError(register_problem[1])
    return Contact(name=name, email=email, address=address, postcode=postcode,
                   country=country, phone=phone)


def register_address(address: str, postcode: str, country: str) -> str:
    """The postal address as the register of members keeps it: lines, postcode, and the
    country when it isn't the UK."""
    return "\n".join(part for part in (address, postcode,
                                       "" if country == UK else country_name(country)) if part)


def split_register_address(address: str) -> tuple[str, str, str]:
    """A register address (:func:`register_address`) as the form's fields: (lines, postcode,
    country code). A last line that isn't a country or a UK postcode stays a line (so the
    register would write the address back as it was)."""
    lines = [line for line in (address or "").splitlines() if line.strip()]
    country = UK
    codes = {name.casefold(): code for code, name in countries()}
    if lines and lines[-1].strip().casefold() in codes:
        country = codes[lines.pop().strip().casefold()]
    postcode = ""
    if lines and country == UK and normalise_uk_postcode(lines[-1]):
        postcode = normalise_uk_postcode(lines.pop())
    return "\n".join(lines), postcode, country


def register_text_problem(name: str, address: str, postcode: str,
                          country: str) -> tuple[str, str] | None:
    """(field, message) when the register of members would refuse this name or address at
    admission (markup, control characters, too long once the postcode is added), so the
    reader is told now, next to the field, rather than staff at admission."""
    try:
        register.clean_name(name)
    except register.RegisterError as err:
        return "name", str(err).replace("The name", "Your name")
    try:
        register.clean_address(register_address(address, postcode, country))
    except register.RegisterError as err:
        return "address", str(err).replace("The postal address", "The address with its "
                                           "postcode") if "at most" in str(err) else str(err)
    return None


def submit(
    session: Session,
    kind: Kind | str,
    contact: Contact,
    amount_pence: int,
    *,
    frequency: str | None = None,
    payment_method: str | None = None,
    existing_holder: bool = False,
    member_number: str = "",
    newsletter_opt_in: bool = False,
    user=None,
    min_pence: int = 100,
    max_pence: int | None = None,
    submission_key: str | None = None,
    now: dt.datetime | None = None,
) -> Enquiry:
    """Save a new enquiry and give it its reference.

    The reference comes from the primary key, so it is unique however many readers send
    the form at the same moment, on every database. ``submission_key`` is the form's own
    (unique: the same form sent twice at once fails to save twice; see :func:`repeat_of`).
    """
    kind = Kind(kind)
    now = now or now_utc()
    contact = _check_contact(contact)
    if isinstance(amount_pence, bool) or not isinstance(amount_pence, int):
        raise EnquiryError("The amount must be a whole number of pence.")
    if amount_pence < min_pence:
        raise EnquiryError(f"The least we can accept is £{min_pence / 100:,.2f}.")
    if max_pence is not None and amount_pence > max_pence:
        raise EnquiryError(f"The most we can accept is £{max_pence / 100:,.2f}.")
    member_number = (member_number or "").strip()
    if kind == Kind.SHARES:
        if amount_pence % 100:
            raise EnquiryError("Shares are £1 each: enter a whole number of pounds.")
        payment_method = PaymentMethod(payment_method).value
        frequency = None
        if len(member_number) > MEMBER_NUMBER_MAX:
            raise EnquiryError(f"The member number can be at most {MEMBER_NUMBER_MAX} "
                               "characters.")
        if not existing_holder:
            member_number = ""
    else:
        frequency = Frequency(frequency).value
        payment_method = None
        existing_holder = False
        member_number = ""
    enquiry = Enquiry(
        kind=kind.value,
        status=Status.NEW.value,
        amount_pence=amount_pence,
        frequency=frequency,
        payment_method=payment_method,
        existing_holder=bool(existing_holder),
        member_number=member_number,
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        address=contact.address,
        postcode=contact.postcode,
        country=contact.country,
        contact_consent_at=now,
        newsletter_opt_in=bool(newsletter_opt_in),
        newsletter_consent_at=now if newsletter_opt_in else None,
        user_id=getattr(user, "id", None),
        sent_signed_in=user is not None,
        submission_key=submission_key,
        created_at=now,
        updated_at=now,
    )
    session.add(enquiry)
    session.flush()
    enquiry.reference = enquiry.make_reference()
    session.flush()
    return enquiry


def with_key(session: Session, submission_key: str | None) -> Enquiry | None:
    """The enquiry a form with this key made, if any."""
    if not submission_key:
        return None
    return session.scalar(sa.select(Enquiry).where(Enquiry.submission_key == submission_key))


def is_repeat(enquiry: Enquiry, kind: Kind | str, email: str, amount_pence: int) -> bool:
    """Whether a form sent again (a double click, or Back and send) asks for what
    ``enquiry`` already has: the same kind, address and amount. Changed before sending
    again, it is a new enquiry."""
    return (enquiry.kind == Kind(kind).value and enquiry.amount_pence == amount_pence
            and normalise_email(enquiry.email) == normalise_email(email or ""))


def get_by_reference(session: Session, reference: str) -> Enquiry | None:
    return session.scalar(sa.select(Enquiry).where(Enquiry.reference == reference.strip().upper()))


def mark_acknowledged(session: Session, enquiry: Enquiry, *, sent: bool,
                      now: dt.datetime | None = None) -> None:
    """Record that the acknowledgement went to the outbox (delivery failures show from there,
    as ``email_failed``)."""
    if sent:
        enquiry.acknowledged_at = now or now_utc()
    session.flush()


class FieldError(EnquiryError):
    """A rule broken by one input; ``field`` names the form field to show it next to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _check_move(enquiry: Enquiry, new: Status) -> Status:
    if enquiry.is_erased:
        raise InvalidTransition("This enquiry has been erased; its status can't change.")
    old = enquiry.status_enum
    allowed = transitions(enquiry.kind, old)
    if new not in allowed:
        if old in CLOSED:
            raise InvalidTransition(f"This enquiry is {old.label.lower()}: reopen it first.")
        names = ", ".join(s.label.lower() for s in allowed)
        raise InvalidTransition(
            f"An enquiry that is {old.label.lower()} can't become {new.label.lower()} "
            f"(it can become {names})."
        )
    return old


def _clean_detail(text: str, *, required: str = "") -> str:
    text = " ".join((text or "").split())
    if required and not text:
        raise FieldError("reason", required)
    if len(text) > DETAIL_MAX:
        raise FieldError("reason", f"The reason can be at most {DETAIL_MAX} characters.")
    return text


class ChangedMeanwhile(InvalidTransition):
    """Someone else moved the enquiry between loading it and this change."""


def _claim(session: Session, enquiry: Enquiry, old: Status, new: Status, *,
           paid_pence: int | None = None, paid_method: str | None = None) -> None:
    """Move the row from ``old`` to ``new`` only if it is still at ``old`` (and, given
    ``paid_pence``, still has that payment): one guarded UPDATE, so two staff pressing
    "Admit" at once can't both admit, nor an admission allot for a payment corrected
    meanwhile (on PostgreSQL the second waits for the first's row lock, then finds the row
    moved on and changes nothing)."""
    guard = [] if paid_pence is None else [Enquiry.paid_pence == paid_pence]
    if paid_method is not None:
        guard.append(Enquiry.paid_method == paid_method)
    result = session.execute(
        sa.update(Enquiry)
        .where(Enquiry.id == enquiry.id, Enquiry.status == old.value, *guard)
        .values(status=new.value)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ChangedMeanwhile("Someone else changed this enquiry meanwhile: reload the page "
                               "and check its status.")


def _move(session: Session, enquiry: Enquiry, old: Status, new: Status, *, by,
          detail: str = "", now: dt.datetime | None = None,
          claimed: bool = False) -> StatusChange:
    now = now or now_utc()
    if not claimed:
        _claim(session, enquiry, old, new)
    enquiry.status = new.value
    enquiry.updated_at = now
    enquiry.closed_at = now if new in CLOSED else None
    change = StatusChange(enquiry=enquiry, at=now, by_id=getattr(by, "id", by),
                          old_status=old.value, new_status=new.value, detail=detail)
    session.add(change)
    audit.record(session, "enquiry.status_changed", "enquiry", enquiry.reference, by=by,
                 old=old.value, new=new.value)
    session.flush()
    return change


def change_status(session: Session, enquiry: Enquiry, new: Status | str, *, by,
                  reason: str = "", now: dt.datetime | None = None) -> StatusChange:
    """Move to contacted, completed (supporters), declined or withdrawn.

    Payment received and admitted carry more than a status: :func:`record_payment` and
    :func:`admit`.
    """
    try:
        new = Status(new)
    except ValueError:
        raise InvalidTransition(f"Unknown status {new!r}.") from None
    old = _check_move(enquiry, new)
    if new == Status.PAYMENT_RECEIVED:
        raise InvalidTransition("Record the payment with its amount, date and method.")
    if new == Status.ADMITTED:
        raise InvalidTransition("Admit the member from the admission page.")
    return _move(session, enquiry, old, new, by=by, detail=_clean_detail(reason), now=now)


def payment_refunded(session: Session, enquiry: Enquiry, *, detail: str,
                     now: dt.datetime | None = None) -> StatusChange:
    """The whole online payment went back (a refund, a dispute lost) before admission: the
    enquiry returns to "contacted" with no payment recorded, so nobody admits a member on
    money the society no longer has. One guarded move from "payment received".

    :raise ChangedMeanwhile: it isn't at "payment received" any more (admitted, say).
    """
    # only the online payment it was: not one staff corrected to a cheque meanwhile (review)
    _claim(session, enquiry, Status.PAYMENT_RECEIVED, Status.CONTACTED,
           paid_pence=enquiry.paid_pence, paid_method=PaidMethod.ONLINE.value)
    change = _move(session, enquiry, Status.PAYMENT_RECEIVED, Status.CONTACTED, by=None,
                   detail=_clean_detail(detail), now=now, claimed=True)
    enquiry.paid_pence = enquiry.paid_on = enquiry.paid_method = None
    session.flush()
    return change


def record_payment(session: Session, enquiry: Enquiry, *, amount_pence: int,
                   received_on: dt.date, method: PaidMethod | str, by,
                   max_pence: int | None = None, correcting: str | None = None,
                   now: dt.datetime | None = None) -> StatusChange:
    """Payment received: the amount, the day it arrived (London) and how it came.

    ``correcting``: staff correct the payment recorded on an enquiry at "payment received"
    (not yet admitted), a mistyped amount or date; the value is :func:`payment_key` of the
    payment their form showed, and the correction is made only if that is still the one
    recorded (one guarded UPDATE, so two corrections at once, or one racing an admission,
    can't both land). Without it (an online payment arriving, a form sent again) an enquiry
    at "payment received" is refused as before, never overwritten.

    :raise ChangedMeanwhile: the payment or status changed since the form was drawn.
    """
    if correcting is not None:
        if enquiry.status_enum != Status.PAYMENT_RECEIVED or enquiry.is_erased:
            raise ChangedMeanwhile("This enquiry has moved on meanwhile (admitted, say): "
                                   "reload the page and check it.")
        if correcting != payment_key(enquiry):
            raise ChangedMeanwhile("Someone else changed the recorded payment meanwhile: "
                                   "reload the page and check it.")
        old = Status.PAYMENT_RECEIVED
    else:
        old = _check_move(enquiry, Status.PAYMENT_RECEIVED)
    was = _payment_text(enquiry.paid_pence, enquiry.paid_on, enquiry.paid_method)
    before = {"amount_pence": enquiry.paid_pence, "method": enquiry.paid_method,
              "received_on": enquiry.paid_on.isoformat() if enquiry.paid_on else None}
    now = now or now_utc()
    if isinstance(amount_pence, bool) or not isinstance(amount_pence, int) or amount_pence <= 0:
        raise FieldError("amount", "Enter the amount received, more than £0.")
    if enquiry.kind == Kind.SHARES and amount_pence % 100:
        raise FieldError("amount", "Shares are £1 each: enter a whole number of pounds.")
    if max_pence is not None and amount_pence > max_pence:
        raise FieldError("amount", f"The most one enquiry may pay is £{max_pence // 100:,}.")
    today = now.astimezone(LONDON).date()
    if received_on > today:
        raise FieldError("received_on", "The payment can't have arrived in the future.")
    earliest = enquiry.created_at.astimezone(LONDON).date() - dt.timedelta(days=366)
    if received_on < earliest:
        raise FieldError("received_on", "That is more than a year before the enquiry: check "
                                        "the date.")
    try:
        method = PaidMethod(method)
    except ValueError:
        raise FieldError("method", "Choose how the payment arrived.") from None
    detail = _payment_text(amount_pence, received_on, method.value)
    if correcting is None:
        enquiry.paid_pence = amount_pence
        enquiry.paid_on = received_on
        enquiry.paid_method = method.value
        audit.record(session, "enquiry.payment_recorded", "enquiry", enquiry.reference, by=by,
                     amount_pence=amount_pence, method=method.value,
                     received_on=received_on.isoformat())
        return _move(session, enquiry, old, Status.PAYMENT_RECEIVED, by=by, detail=detail,
                     now=now)
    if detail == was:
        raise FieldError("amount", "That is the payment already recorded: change what was "
                                   "typed wrongly.")
    claimed = session.execute(
        sa.update(Enquiry)
        .where(Enquiry.id == enquiry.id, Enquiry.status == Status.PAYMENT_RECEIVED.value,
               Enquiry.paid_pence == enquiry.paid_pence, Enquiry.paid_on == enquiry.paid_on,
               Enquiry.paid_method == enquiry.paid_method)
        .values(paid_pence=amount_pence, paid_on=received_on, paid_method=method.value,
                updated_at=now)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise ChangedMeanwhile("Someone else changed this enquiry meanwhile: reload the page "
                               "and check it.")
    set_committed_value(enquiry, "paid_pence", amount_pence)
    set_committed_value(enquiry, "paid_on", received_on)
    set_committed_value(enquiry, "paid_method", method.value)
    set_committed_value(enquiry, "updated_at", now)
    audit.record(session, "enquiry.payment_corrected", "enquiry", enquiry.reference, by=by,
                 before=before, amount_pence=amount_pence, method=method.value,
                 received_on=received_on.isoformat())
    change = StatusChange(enquiry=enquiry, at=now, by_id=getattr(by, "id", by),
                          old_status=old.value, new_status=old.value,
                          detail=f"payment corrected from {was} to {detail}")
    session.add(change)
    session.flush()
    return change


def payment_key(enquiry: Enquiry) -> str:
    """The recorded payment as one value ("500|2026-12-01|cheque"), drawn into the forms
    that act on it (correcting it, admitting for it) so they act only on the one shown."""
    paid_on = enquiry.paid_on.isoformat() if enquiry.paid_on else ""
    return f"{enquiry.paid_pence or 0}|{paid_on}|{enquiry.paid_method or ''}"


def _payment_text(pence: int | None, on: dt.date | None, method: str | None) -> str:
    """"£50 by cheque, received 1 December 2026" (for the history)."""
    if not pence or on is None or not method:
        return ""
    return (f"{money(pence)} {PaidMethod(method).how}, received "
            f"{london_date(on, 'd MMMM y')}")


def admit(session: Session, enquiry: Enquiry, *, on: dt.date, by, member=None,
          new_address: bool = False, payment: str | None = None,
          now: dt.datetime | None = None):
    """Admitted: put the reader on the register of members (or add the shares to the
    ``member`` staff matched by email) and record the membership number. An enquiry sent
    without an account joins the account tied to the member's entry.

    The shares allotted are the payment received, £1 each. Returns the register's allotment.
    Added to a ``member``'s holding, the register keeps the member's address unless
    ``new_address`` (staff said they have moved to the enquiry's): an old enquiry must not
    undo a move the member has since made.

    ``payment``: :func:`payment_key` of the payment the admission page showed; the admission
    is made only if it is still the one recorded (a correction meanwhile would otherwise
    allot a number of shares nobody saw).

    :raise EnquiryError: for a supporter, or an enquiry not at "payment received".
    :raise ChangedMeanwhile: the payment changed since the page was drawn.
    :raise coop.register.services.RegisterError: when the register refuses; nothing written.
    """
    if enquiry.kind != Kind.SHARES:
        raise InvalidTransition("Supporters are not members: only share enquiries are "
                                "admitted.")
    old = _check_move(enquiry, Status.ADMITTED)
    if enquiry.paid_on is not None and on < enquiry.paid_on:
        raise FieldError("on", f"The payment was received on {enquiry.paid_on:%-d %B %Y}: "
                               "admission can't be before then.")
    if payment is not None and payment != payment_key(enquiry):
        raise ChangedMeanwhile("The recorded payment was corrected meanwhile: check the "
                               "shares to allot below, then confirm again.")
    # before the register: one admission only, and for the payment read here
    _claim(session, enquiry, old, Status.ADMITTED, paid_pence=enquiry.paid_pence)
    address = register_address(enquiry.address, enquiry.postcode, enquiry.country)
    if member is not None and not new_address:
        address = None
    allotment = register.admit(
        session, name=enquiry.name, email=enquiry.email, address=address,
        shares=enquiry.paid_pence // 100, on=on, by=by, member=member, enquiry_id=enquiry.id,
    )
    enquiry.membership_number = allotment.member.number
    enquiry.allotment_id = allotment.id
    if enquiry.user_id is None:
        # Sent before the reader had an account: it belongs to the account the member's entry
        # is tied to (the one just invited, or theirs already), so it shows on /account, goes
        # into "download my data" and is erased with the account like any other.
        enquiry.user_id = allotment.member.user_id
    shares = enquiry.paid_pence // 100
    detail = (f"membership number {allotment.member.number_text}, {shares:,} "
              f"share{'' if shares == 1 else 's'}"
              + (" added to an existing holding" if member is not None else ""))
    _move(session, enquiry, old, Status.ADMITTED, by=by, detail=detail, now=now, claimed=True)
    return allotment


def previous_open_status(enquiry: Enquiry) -> Status:
    """Where reopening takes an enquiry: the status it was closed from."""
    for change in reversed(enquiry.changes):
        if change.new_status == enquiry.status and Status(change.old_status) not in CLOSED:
            return Status(change.old_status)
    return Status.PAYMENT_RECEIVED if enquiry.paid_pence else Status.CONTACTED


def reopen(session: Session, enquiry: Enquiry, *, reason: str, by,
           now: dt.datetime | None = None) -> StatusChange:
    """A closed enquiry back to the status it was closed from, with the reason."""
    if not enquiry.is_closed:
        raise InvalidTransition("This enquiry is open already.")
    if enquiry.is_erased:
        raise InvalidTransition("This enquiry has been erased; it can't be reopened.")
    if enquiry.allotment_id is not None:
        raise InvalidTransition("The shares are on the register of members: correct the "
                                "holding there (a withdrawal), not here.")
    reason = _clean_detail(reason, required="Say why the enquiry is reopened.")
    target = previous_open_status(enquiry)
    if target == Status.PAYMENT_RECEIVED and not enquiry.paid_pence:
        target = Status.CONTACTED
    return _move(session, enquiry, enquiry.status_enum, target, by=by,
                 detail=f"reopened: {reason}", now=now)


def add_note(session: Session, enquiry: Enquiry, body: str, *, by,
             now: dt.datetime | None = None) -> Note:
    """A note on the enquiry; ``by=None``: the website's own (shown as "The website")."""
    body = (body or "").strip()
    if not body:
        raise EnquiryError("Write the note first.")
    if len(body) > NOTE_MAX:
        raise EnquiryError(f"A note can be at most {NOTE_MAX} characters.")
    if enquiry.is_erased:
        raise EnquiryError("This enquiry has been erased; notes can't be added to it.")
    note = Note(enquiry=enquiry, body=body, by_id=getattr(by, "id", by), automatic=by is None,
                at=now or now_utc())
    session.add(note)
    session.flush()
    return note


#: the contact details staff may correct (the enquiry's notes name them so)
CONTACT_FIELDS = ("name", "email", "phone", "address", "postcode", "country")


@dataclass(frozen=True)
class Corrected:
    """What :func:`correct_contact` changed: the fields, and whether the email changed."""

    fields: tuple[str, ...] = ()
    email_changed: bool = False


def correct_contact(session: Session, enquiry: Enquiry, contact: Contact, *, reason: str, by,
                    now: dt.datetime | None = None) -> Corrected:
    """Staff correct what the reader typed (the email the acknowledgement bounced from, a
    postcode, a new phone number), by the public form's rules, with a reason.

    The enquiry's notes get one naming the fields and the reason, and the audit log the
    fields; neither keeps the old or new values, so erasure leaves no copy of them. When the
    email changes, the mail about the enquiry still waiting to go to the old address is
    dropped (the view sends the acknowledgement afresh to the new one). An admitted
    enquiry's member is corrected in the register of members instead.
    """
    admitted = "This enquiry is admitted: the member's details are kept in the register " \
               "of members, and corrected there."
    if enquiry.is_erased:
        raise EnquiryError("This enquiry has been erased: there are no details to correct.")
    if enquiry.status_enum == Status.ADMITTED:
        raise EnquiryError(admitted)
    reason = _clean_detail(reason, required="Say why the details are corrected.")
    contact = _check_contact(contact)
    changed = tuple(field for field in CONTACT_FIELDS
                    if getattr(enquiry, field) != getattr(contact, field))
    if not changed:
        return Corrected()
    now = now or now_utc()
    # the row, guarded: an admission (or erasure) committed since it was read wins, and one
    # running now waits for this (PostgreSQL re-reads the row when its lock is released)
    claimed = session.execute(
        sa.update(Enquiry)
        .where(Enquiry.id == enquiry.id, Enquiry.status != Status.ADMITTED.value,
               Enquiry.erased_at.is_(None))
        .values(updated_at=now)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise EnquiryError("This enquiry was admitted or erased meanwhile: nothing was "
                           "changed.")
    old_email = enquiry.email
    email_changed = normalise_email(old_email) != normalise_email(contact.email)
    for field in CONTACT_FIELDS:
        setattr(enquiry, field, getattr(contact, field))
    enquiry.updated_at = now
    if email_changed:
        # nothing has gone to this address yet (the view sends it again if still open), and
        # what waited for the old one is wrong
        enquiry.acknowledged_at = None
        outbox.drop_undelivered(session, enquiry.reference, to=old_email, now=now)
    session.add(Note(enquiry=enquiry, by_id=getattr(by, "id", by), at=now, automatic=by is None,
                     body=f"Contact details corrected ({joined(changed)}): {reason}"))
    audit.record(session, "enquiry.contact_corrected", "enquiry", enquiry.reference, by=by,
                 fields=list(changed))
    session.flush()
    return Corrected(changed, email_changed)


def erase(session: Session, enquiry: Enquiry, *, by=None, reason: str = "staff",
          now: dt.datetime | None = None) -> bool:
    """Remove the person from an enquiry, keeping kind, amount, dates and status.

    The audit row names the reference and who erased it, never the data. Returns False
    when it was already erased.
    """
    if enquiry.is_erased:
        return False
    enquiry.name = ""
    enquiry.email = ""
    enquiry.phone = ""
    enquiry.address = ""
    enquiry.postcode = ""
    enquiry.country = ""
    enquiry.member_number = ""
    enquiry.membership_number = None
    enquiry.user_id = None
    enquiry.notes.clear()
    for change in enquiry.changes:  # the moves stay; what staff typed about them goes
        change.detail = ""
    outbox.forget_about(session, enquiry.reference)  # the mail copies hold the data too
    enquiry.erased_at = now or now_utc()
    audit.record(session, "enquiry.erased", "enquiry", enquiry.reference, by=by, reason=reason)
    session.flush()
    return True


def purge(session: Session, *, older_than: dt.datetime) -> int:
    """Erase closed (admitted, completed, declined, withdrawn) enquiries closed before
    ``older_than``, and open ones left by a deleted account (sent logged in, no account now)
    untouched since then. The register of members keeps its own entries (a legal duty)."""
    enquiries = session.scalars(
        sa.select(Enquiry).where(
            Enquiry.erased_at.is_(None),
            sa.or_(
                sa.and_(Enquiry.status.in_([s.value for s in CLOSED]),
                        Enquiry.closed_at < older_than),
                sa.and_(Enquiry.status.not_in([s.value for s in CLOSED]),
                        Enquiry.sent_signed_in.is_(True), Enquiry.user_id.is_(None),
                        Enquiry.updated_at < older_than),
            ),
        ).order_by(Enquiry.id)
    ).all()
    for enquiry in enquiries:
        erase(session, enquiry, by=None, reason="purge")
    return len(enquiries)


@dataclass(frozen=True)
class InboxFilter:
    kind: str = ""
    status: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    q: str = ""
    email_failed: bool = False


def inbox_statement(filters: InboxFilter) -> sa.Select:
    """The staff inbox, newest first; dates are whole days in London, both ends included."""
    stmt = sa.select(Enquiry).order_by(Enquiry.created_at.desc(), Enquiry.id.desc())
    if filters.kind in {k.value for k in Kind}:
        stmt = stmt.where(Enquiry.kind == filters.kind)
    if filters.status in {s.value for s in Status}:
        stmt = stmt.where(Enquiry.status == filters.status)
    # dates outside coop.limits' range (the form refuses them) are taken as its ends
    if filters.date_from:
        start = min(max(filters.date_from, limits.EARLIEST_DATE), limits.LATEST_DATE)
        stmt = stmt.where(Enquiry.created_at >= london_midnight(start))
    if filters.date_to:
        end = min(max(filters.date_to, limits.EARLIEST_DATE), limits.LATEST_DATE)
        stmt = stmt.where(Enquiry.created_at < london_midnight(end + dt.timedelta(days=1)))
    if filters.email_failed:
        stmt = stmt.where(Enquiry.email_failed.is_(True))
    q = " ".join(filters.q.split())[:100]
    if q:
        stmt = stmt.where(sa.or_(
            Enquiry.name_folded.contains(folded(q), autoescape=True),
            Enquiry.email.icontains(q, autoescape=True),
            Enquiry.reference.icontains(q, autoescape=True),
        ))
    return stmt


def open_share_pence(session: Session, user) -> int:
    """What ``user``'s open share enquiries (not yet admitted, declined or withdrawn) ask for,
    in pence: the payment where one is recorded, else the amount asked."""
    asked = sa.func.coalesce(Enquiry.paid_pence, Enquiry.amount_pence)
    return int(session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(asked), 0)).where(
            Enquiry.user_id == user.id, Enquiry.kind == Kind.SHARES.value,
            Enquiry.status.not_in([status.value for status in CLOSED]),
            Enquiry.erased_at.is_(None))) or 0)


def for_user(session: Session, user) -> list[Enquiry]:
    return list(session.scalars(
        sa.select(Enquiry).where(Enquiry.user_id == user.id)
        .order_by(Enquiry.created_at.desc(), Enquiry.id.desc())
    ))


def export_row(enquiry: Enquiry) -> dict:
    """What a reader gets about one of their enquiries in "download my data"."""
    return {
        "reference": enquiry.reference,
        "kind": enquiry.kind,
        "status": enquiry.status,
        "amount_pence": enquiry.amount_pence,
        "frequency": enquiry.frequency,
        "payment_method": enquiry.payment_method,
        "existing_holder": enquiry.existing_holder,
        "member_number": enquiry.member_number,
        "paid_pence": enquiry.paid_pence,
        "paid_on": enquiry.paid_on.isoformat() if enquiry.paid_on else None,
        "paid_method": enquiry.paid_method,
        "membership_number": enquiry.membership_number,
        "name": enquiry.name,
        "email": enquiry.email,
        "phone": enquiry.phone,
        "address": enquiry.address,
        "postcode": enquiry.postcode,
        "country": enquiry.country,
        "contact_consent_at": enquiry.contact_consent_at.isoformat(),
        "newsletter_opt_in": enquiry.newsletter_opt_in,
        "newsletter_consent_at": (enquiry.newsletter_consent_at.isoformat()
                                  if enquiry.newsletter_consent_at else None),
        "created_at": enquiry.created_at.isoformat(),
        "status_history": [
            {"at": c.at.isoformat(), "from": c.old_status, "to": c.new_status,
             "detail": c.detail}
            for c in enquiry.changes
        ],
        "notes": [{"at": n.at.isoformat(), "text": n.body} for n in enquiry.notes],
    }


#: the note an open enquiry gets when its reader deletes their account
ACCOUNT_DELETED_NOTE = ("The reader deleted their account. This enquiry was still open, so it "
                        "is kept to be finished (a payment may be on its way); withdraw and "
                        "erase it if they ask. Left untouched, it is erased with the closed "
                        "enquiries of its age.")


def anonymise_for_user(session: Session, user) -> int:
    """On account deletion: erase the account's closed enquiries. An open one (a cheque may
    be in the post) is kept, no longer tied to the account, with a note for staff, so the
    society can still record the payment or admit the member. How many were erased."""
    count = 0
    for enquiry in for_user(session, user):
        if enquiry.is_closed:
            count += erase(session, enquiry, by=None, reason="account deleted")
        elif not enquiry.is_erased:
            enquiry.user_id = None
            enquiry.updated_at = now_utc()
            session.add(Note(enquiry=enquiry, body=ACCOUNT_DELETED_NOTE, by_id=None,
                             automatic=True))
    session.flush()
    return count
