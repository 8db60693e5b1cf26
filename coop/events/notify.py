"""Emails to people who register: confirmations, moving up from the waiting list, messages.

Called by views after the commit, and by the account-deletion hook (links then use BASE_URL).
Each function returns the registrations whose email could not be sent, for flagging.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app

from coop.events.display import event_when, event_where
from coop.events.links import link_token
from coop.events.models import Registration, RegistrationStatus
from coop.limits import one_line
from coop.mail import MailError, send_email
from coop.urls import external_url


def _manage_url(registration: Registration) -> str:
    return external_url("events.manage", token=link_token(registration))


def _event_lines(registration: Registration) -> list[str]:
    event = registration.event
    lines = [event.title, f"When: {event_when(event)} (London time)",
             f"Where: {event_where(event)}"]
    if registration.status == RegistrationStatus.REGISTERED:
        if event.online and event.joining_url:
            lines.append(f"Joining link: {event.joining_url}")
        elif event.online:
            lines.append("Joining link: we'll email it to you before the event.")
    lines.append(f"About the event: {external_url('events.event', slug=event.slug)}")
    lines.append(f"See or cancel this registration: {_manage_url(registration)}")
    return lines


def _status_line(registration: Registration) -> str:
    if registration.status == RegistrationStatus.REGISTERED:
        return "You have a place."
    return ("The event is full, so you are on the waiting list. If a place comes up we'll "
            "give it to the next in line and email you.")


def _send(registration: Registration, subject: str, text: str) -> bool:
    try:
        # a title saved with a line break (before titles were checked) still makes a subject
        send_email(registration.email, one_line(subject), text)
    except MailError:
        return False
    return True


def _signature() -> str:
    return f"\n\n-- \n{current_app.config['SITE_NAME']}\n"


def confirm(registrations: Sequence[Registration]) -> list[Registration]:
    """One email for one registration, or one listing every session of a series."""
    if not registrations:
        return []
    first = registrations[0]
    name = first.name or "there"
    if len(registrations) == 1:
        subject = (f"Your place: {first.event.title}"
                   if first.status == RegistrationStatus.REGISTERED
                   else f"Waiting list: {first.event.title}")
        body = [f"Hello {name},", "", f"Thank you for registering. {_status_line(first)}", "",
                *_event_lines(first)]
    else:
        series = first.event.series
        subject = f"Your registration: {series.title if series else first.event.title}"
        body = [f"Hello {name},", "", f"Thank you for registering for {len(registrations)} "
                "sessions. Each has its own link to cancel it.", ""]
        for registration in registrations:
            body += [*_event_lines(registration), _status_line(registration), ""]
    text = "\n".join(body) + _signature()
    return [] if _send(first, subject, text) else list(registrations)


def promoted(registrations: Sequence[Registration]) -> list[Registration]:
    failed = []
    for registration in registrations:
        text = "\n".join([
            f"Hello {registration.name or 'there'},", "",
            "A place has come up and it's yours: you were next on the waiting list.",
            "If you can no longer come, please cancel so the next person can have it.", "",
            *_event_lines(registration),
        ]) + _signature()
        if not _send(registration, f"A place for you: {registration.event.title}", text):
            failed.append(registration)
    return failed


def message(registrations: Sequence[Registration], subject: str, body: str
            ) -> list[Registration]:
    failed = []
    for registration in registrations:
        text = "\n".join([body.strip(), "", "--", *_event_lines(registration)]) + _signature()
        if not _send(registration, subject, text):
            failed.append(registration)
    return failed


def already_registered_email(registrations: Sequence[Registration]) -> tuple[str, str, str]:
    """(to, subject, text) of the reminder to the owner of an address someone registered
    again (maybe not the owner): their registration is unchanged, with its link. Uses the
    stored name, never what was typed."""
    first = registrations[0]
    what = first.event.series.title if len(registrations) > 1 and first.event.series \
        else first.event.title
    body = [f"Hello {first.name or 'there'},", "",
            f"Someone, hopefully you, asked to register this address for “{what}”. It is "
            "already registered, so nothing has changed:", ""]
    for registration in registrations:
        body += [*_event_lines(registration), _status_line(registration), ""]
    body.append("If that wasn't you, you can ignore this email: your registration stays as "
                "it is.")
    return first.email, f"You're already registered: {what}", "\n".join(body) + _signature()


def already_registered(registrations: Sequence[Registration]) -> list[Registration]:
    """Send :func:`already_registered_email`; the registrations if it failed.

    Sent like the confirmation (after the commit, failure reported the same way), so that
    even with the mail server down the page can't tell the two cases apart."""
    if not registrations:
        return []
    _to, subject, text = already_registered_email(registrations)
    return [] if _send(registrations[0], subject, text) else list(registrations)
