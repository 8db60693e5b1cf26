"""The acknowledgement email sent to a reader after an enquiry is saved."""

from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy.orm import Session

from coop.outbox import enqueue_email
from coop.shares import services
from coop.shares.models import Enquiry, Kind


def acknowledgement_subject(enquiry: Enquiry) -> str:
    what = "share enquiry" if enquiry.kind == Kind.SHARES else "supporter pledge"
    return f"Your {what}: reference {enquiry.reference}"


def send_acknowledgement(session: Session, enquiry: Enquiry) -> bool:
    """Write the acknowledgement to the outbox in the enquiry's own transaction (call it
    before the commit); it is delivered after the commit, retried until it goes, and listed
    for staff (with "Try again") while it hasn't. False when there is no address to send to.
    """
    if enquiry.is_erased or not enquiry.email:
        return False
    text = render_template("shares/email/acknowledgement.txt", enquiry=enquiry,
                           config=current_app.config)
    enqueue_email(session, to=enquiry.email, subject=acknowledgement_subject(enquiry), text=text,
                  headers={"X-Coop-Reference": enquiry.reference},
                  kind="shares.acknowledgement", about=enquiry.reference)
    services.mark_acknowledged(session, enquiry, sent=True)
    return True
