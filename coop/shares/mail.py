"""The acknowledgement email sent to a reader after an enquiry is saved."""

from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy.orm import Session

from coop.mail import MailError, send_email
from coop.shares import services
from coop.shares.models import Enquiry, Kind


def acknowledgement_subject(enquiry: Enquiry) -> str:
    what = "share enquiry" if enquiry.kind == Kind.SHARES else "supporter pledge"
    return f"Your {what}: reference {enquiry.reference}"


def send_acknowledgement(session: Session, enquiry: Enquiry) -> bool:
    """Send the email and record the outcome; False (and the staff flag) when it failed.

    Call this only after the enquiry is committed: a mail failure must never lose it.
    """
    if enquiry.is_erased or not enquiry.email:
        return False
    text = render_template("shares/email/acknowledgement.txt", enquiry=enquiry,
                           config=current_app.config)
    try:
        send_email(enquiry.email, acknowledgement_subject(enquiry), text,
                   headers={"X-Coop-Reference": enquiry.reference})
    except MailError:
        services.mark_acknowledged(session, enquiry, sent=False)
        return False
    services.mark_acknowledged(session, enquiry, sent=True)
    return True
