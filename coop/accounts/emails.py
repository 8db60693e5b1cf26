"""The account emails: invitations, reset links and notices of security events.

Every link in them is built with :func:`coop.urls.external_url` (from ``BASE_URL``, never the
request), and every one carries a Reply-To to the society's contact address, so "reply if this
wasn't you" reaches a person.
"""

from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy.orm import Session

from coop.outbox import enqueue_email

SUBJECTS = {
    "invitation": "You're invited: set your password",
    "password_reset": "Reset your password",
    "password_changed": "Your password was changed",
    "email_change": "Confirm your new email address",
    "email_in_use": "Someone tried to move an account to this address",
    "email_changed": "Your account's email address was changed",
    "two_factor_on": "Two-step verification is on",
    "two_factor_off": "Two-step verification was turned off",
    "two_factor_reset": "Two-step verification was turned off by an admin",
    "role_changed": "Your role on the site was changed",
    "failed_logins": "Failed attempts to log in to your account",
    "code_failures": "Someone has your password: change it",
    "account_deleted": "Your account was deleted",
}


def build(kind: str, to: str, **context) -> dict:
    """The message as plain values: ``to``, ``subject``, ``text``, ``reply_to``, ``kind``."""
    config = current_app.config
    subject = f"{SUBJECTS[kind]} — {config['SITE_NAME']}"
    text = render_template(f"accounts/email/{kind}.txt", **context)
    return {"to": to, "subject": subject, "text": text, "reply_to": config["SOCIETY_EMAIL"],
            "kind": f"accounts.{kind}"}


def send(session: Session, kind: str, to: str, **context) -> dict:
    """Write one account email to the outbox in ``session``'s transaction: it goes when the
    change it reports is committed, and never if that is rolled back."""
    message = build(kind, to, **context)
    enqueue_email(session, to=message["to"], subject=message["subject"], text=message["text"],
                  reply_to=message["reply_to"], kind=message["kind"])
    return message
