"""The share emails: the acknowledgement (with how to pay) and the welcome on admission.

Each is built as an :class:`Email` (to, subject, text, Reply-To the membership secretary,
signed with the society's details) and then sent by :func:`deliver`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, render_template
from sqlalchemy.orm import Session

from coop.mail import MailError, send_email
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
    """The welcome: membership number, shares allotted and held, where the certificate is."""
    member = allotment.member
    text = render_template("shares/email/admitted.txt", enquiry=enquiry, member=member,
                           shares=allotment.shares, allotment_date=allotment.effective_on)
    return Email(to=enquiry.email, subject=f"Welcome: you are member {member.number_text}",
                 text=text, reply_to=_reply_to(),
                 headers={"X-Coop-Reference": enquiry.reference}, kind="shares.admitted")


def deliver(email: Email) -> bool:
    """Hand the message to the mail server; False when it could not be sent."""
    headers = {"Reply-To": email.reply_to, **email.headers}
    try:
        send_email(email.to, email.subject, email.text, headers=headers)
    except MailError:
        return False
    return True


def send_acknowledgement(session: Session, enquiry: Enquiry) -> bool:
    """Send the email and record the outcome; False (and the staff flag) when it failed.

    Call this only after the enquiry is committed: a mail failure must never lose it.
    """
    if enquiry.is_erased or not enquiry.email:
        return False
    sent = deliver(acknowledgement(enquiry))
    services.mark_acknowledged(session, enquiry, sent=sent)
    return sent
