"""The share emails: the acknowledgement (with how to pay) and the welcome on admission.

Each is built as an :class:`Email` (to, subject, text, Reply-To the membership secretary,
signed with the society's details) and written to the outbox (:func:`enqueue`) in the same
transaction as the change it reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, render_template
from sqlalchemy.orm import Session

from coop.mail import MailError
from coop.outbox import OutboxMessage, enqueue_email
from coop.outbox import Status as OutboxStatus
from coop.shares import services
from coop.shares.models import Enquiry, Kind


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    reply_to: str
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = ""


def _reply_to() -> str:
    return current_app.config["SOCIETY_EMAIL"]


def acknowledgement_subject(enquiry: Enquiry) -> str:
    what = "share enquiry" if enquiry.kind == Kind.SHARES else "supporter pledge"
    return f"Your {what}: reference {enquiry.reference}"


def acknowledgement(enquiry: Enquiry) -> Email:
    text = render_template("shares/email/acknowledgement.txt", enquiry=enquiry)
    return Email(to=enquiry.email, subject=acknowledgement_subject(enquiry), text=text,
                 reply_to=_reply_to(), headers={"X-Coop-Reference": enquiry.reference},
                 kind="shares.acknowledgement")


def admitted(enquiry: Enquiry, allotment) -> Email:
    """The welcome: membership number, shares allotted and held, where the certificate is;
    to a member who already held shares, the thanks for more instead."""
    member = allotment.member
    already = member.shares_held > allotment.shares  # shares added to a holding
    user = member.user
    # QA: "on your account page once you have logged in" went to a member with no password
    # yet, whose invitation to choose one came as a separate email at the same moment
    account = None if user is None else "ready" if user.has_usable_password else "invited"
    text = render_template("shares/email/admitted.txt", enquiry=enquiry, member=member,
                           shares=allotment.shares, allotment_date=allotment.effective_on,
                           already=already, account=account)
    subject = (f"Your new shares: member {member.number_text}" if already
               else f"Welcome: you are member {member.number_text}")
    return Email(to=enquiry.email, subject=subject,
                 text=text, reply_to=_reply_to(),
                 headers={"X-Coop-Reference": enquiry.reference}, kind="shares.admitted")


def enqueue(session: Session, email: Email):
    """Write the email to the outbox in ``session``'s transaction: it is sent after the
    commit, and never if the change is rolled back. Raises :class:`MailError` when the
    message can't be built (nothing written)."""
    return enqueue_email(session, to=email.to, subject=email.subject, text=email.text,
                         reply_to=email.reply_to, headers=email.headers, kind=email.kind,
                         about=email.headers.get("X-Coop-Reference", ""))


def delivery_state(session: Session, row_id: int | None) -> str:
    """After the commit: "sent", "failed" (tried and refused: the staff flag) or "pending"
    (queued, not tried yet: a task queue will send it)."""
    if row_id is None:
        return "failed"
    row = session.get(OutboxMessage, row_id)
    session.refresh(row)
    if row.status == OutboxStatus.SENT:
        return "sent"
    if row.status == OutboxStatus.FAILED or row.attempts > 0:
        return "failed"
    return "pending"


def queue_acknowledgement(session: Session, enquiry: Enquiry) -> int | None:
    """Put the acknowledgement in the outbox with the enquiry (same transaction); the
    outbox row's id, or None when it couldn't be built (the staff flag goes up)."""
    if enquiry.is_erased or not enquiry.email:
        return None
    try:
        row_id = enqueue(session, acknowledgement(enquiry)).id
    except MailError:
        return None
    services.mark_acknowledged(session, enquiry, sent=True)
    return row_id


def record_acknowledgement(session: Session, enquiry: Enquiry, row_id: int | None) -> str:
    """After the commit: how the acknowledgement went (:func:`delivery_state`); a failure
    shows as the enquiry's ``email_failed`` flag, which is read from the outbox."""
    return delivery_state(session, row_id)


def send_acknowledgement(session: Session, enquiry: Enquiry) -> bool:
    """Staff's "resend": queue it again, commit, and say whether it went."""
    row_id = queue_acknowledgement(session, enquiry)
    session.commit()
    state = record_acknowledgement(session, enquiry, row_id)
    session.commit()
    return state != "failed"
