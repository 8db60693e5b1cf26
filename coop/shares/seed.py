"""Demo enquiries in different states, from seeds/shares.toml (safe to run twice)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from coop.accounts.models import Role, User
from coop.formatting import LONDON
from coop.shares import services
from coop.shares.models import Enquiry, Status

#: the path through the workflow to reach each status
_PATH = {
    Status.NEW: [],
    Status.CONTACTED: [Status.CONTACTED],
    Status.PAYMENT_RECEIVED: [Status.CONTACTED, Status.PAYMENT_RECEIVED],
    Status.COMPLETED: [Status.CONTACTED, Status.PAYMENT_RECEIVED, Status.COMPLETED],
    Status.DECLINED: [Status.CONTACTED, Status.DECLINED],
    Status.WITHDRAWN: [Status.CONTACTED, Status.WITHDRAWN],
}


def load(session: Session, data: dict, today: dt.date) -> str:
    added = 0
    # the demo's notes are staff's ("Rang on Tuesday"): the demo staff account's when the demo
    # accounts are made, else a former member of staff's (never a real person's, never the
    # website's own)
    author = session.scalar(sa.select(User).where(User.role == Role.STAFF.value)
                            .order_by(User.id).limit(1)) \
        if current_app.config.get("DEMO_ACCOUNTS") else None
    for item in data.get("enquiries", []):
        exists = session.scalar(sa.select(Enquiry.id).where(Enquiry.email == item["email"]))
        if exists is not None:
            continue
        received = dt.datetime.combine(
            today - dt.timedelta(days=item.get("days_ago", 0)), dt.time(10, 30), tzinfo=LONDON
        ).astimezone(dt.UTC)
        contact = services.Contact(
            name=item["name"], email=item["email"], phone=item.get("phone", ""),
            address=item["address"], postcode=item.get("postcode", ""),
            country=item.get("country", "GB"),
        )
        user = None
        if item.get("account"):
            user = session.scalar(sa.select(User).where(User.email == item["account"]))
        enquiry = services.submit(
            session, item["kind"], contact, int(item["amount_pounds"]) * 100,
            frequency=item.get("frequency"), payment_method=item.get("payment_method"),
            existing_holder=item.get("existing_holder", False),
            member_number=item.get("member_number", ""),
            newsletter_opt_in=item.get("newsletter_opt_in", False), user=user, max_pence=None,
            now=received,
        )
        if item.get("email_failed"):
            _failed_acknowledgement(session, enquiry)
        else:
            services.mark_acknowledged(session, enquiry, sent=True, now=received)
        step = received
        for status in _PATH[Status(item.get("status", "new"))]:
            step += dt.timedelta(hours=26)
            if status == Status.PAYMENT_RECEIVED:
                services.record_payment(
                    session, enquiry, amount_pence=enquiry.amount_pence,
                    received_on=step.astimezone(LONDON).date(),
                    method=item.get("paid_method", "cheque"), by=None, now=step)
            else:
                services.change_status(session, enquiry, status, by=None, now=step)
        if item.get("note"):
            note = services.add_note(session, enquiry, item["note"], by=author, now=step)
            note.automatic = False
        added += 1
    return f"Share enquiries: {added} added."


def _failed_acknowledgement(session: Session, enquiry) -> None:
    """The demo's enquiry whose acknowledgement the mail server refused: a message in the
    outbox that has given up, for staff to see and try again."""
    from coop import outbox
    from coop.shares.mail import send_acknowledgement

    send_acknowledgement(session, enquiry)
    for message in outbox.about(session, enquiry.reference):
        message.status = outbox.Status.FAILED
        message.attempts = outbox.MAX_ATTEMPTS
        message.last_error = "(demo) 550 5.1.1 mailbox unavailable"
    session.flush()
