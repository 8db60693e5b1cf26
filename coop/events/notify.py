"""Emails to people who register: confirmations (with an ``.ics``), moving up from the
waiting list, staff messages, reminders, and notices when an event is cancelled or moved.

Each function writes to the outbox in the caller's transaction (before its commit), so a
change that is rolled back sends nothing; the task queue delivers after the commit and staff
see any that could not be sent at /staff/mail. The return value (the registrations whose
email failed) is always empty now and is kept for the callers.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from sqlalchemy.orm import Session, object_session

from coop.db import now_utc
from coop.events.display import event_when, event_where, times_when
from coop.events.links import link_token
from coop.events.models import Registration, RegistrationStatus
from coop.events.services import waiting_position
from coop.limits import one_line
from coop.outbox import enqueue_email
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
    about = external_url("events.event", slug=event.slug)
    if event.members_only and registration.user_id is None:
        # booked by staff without an account: the page answers "Log in to see this" (QA)
        lines.append(f"About the event (members' page, for those who log in): {about}")
    else:
        lines.append(f"About the event: {about}")
    # once it has started, a place can no longer be cancelled (a message after it: slides)
    see = "See this registration" if event.has_started() else "See or cancel this registration"
    lines.append(f"{see}: {_manage_url(registration)}")
    return lines


def _status_line(registration: Registration) -> str:
    if registration.status == RegistrationStatus.REGISTERED:
        return "You have a place."
    position = waiting_position(object_session(registration), registration)
    return (f"The event is full, so you are on the waiting list: number {position} in line. "
            "If a place comes up we'll give it to the next in line and email you.")


def ics_attachment(registration: Registration) -> tuple[str, str, bytes]:
    """The event as an ``.ics`` file (the same UID and SEQUENCE as the public calendar)."""
    from coop.events.feeds import calendar

    event = registration.event
    data = calendar([event], name=event.title)
    return (f"{event.slug}.ics", "text/calendar", data)


def _send(registration: Registration, subject: str, text: str, *, kind: str = "events",
          ics: bool = False) -> bool:
    session = object_session(registration)
    # a title saved with a line break (before titles were checked) still makes a subject
    enqueue_email(session, to=registration.email, subject=one_line(subject), text=text,
                  kind=kind,
                  attachments=[ics_attachment(registration)] if ics else (),
                  about=f"registration:{registration.id}")
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
    if len(registrations) == 1:
        # a calendar entry only for a place: the waiting list's would read as one
        _send(first, subject, text, kind="events.confirmation",
              ics=first.status == RegistrationStatus.REGISTERED)
    else:
        from coop.events.feeds import calendar

        placed = [r.event for r in registrations if r.status == RegistrationStatus.REGISTERED]
        series = first.event.series
        data = calendar(placed, name=series.title if series else first.event.title) \
            if placed else None
        # named as the series' own calendar is (QA: it was named after the first session)
        filename = f"{series.slug if series else first.event.slug}.ics"
        enqueue_email(object_session(first), to=first.email, subject=one_line(subject), text=text,
                      kind="events.confirmation", about=f"registration:{first.id}",
                      attachments=[(filename, "text/calendar", data)]
                      if placed else ())
    return []


def promoted(registrations: Sequence[Registration]) -> list[Registration]:
    failed = []
    for registration in registrations:
        text = "\n".join([
            f"Hello {registration.name or 'there'},", "",
            "A place has come up and it's yours: you were next on the waiting list.",
            "If you can no longer come, please cancel so the next person can have it.", "",
            *_event_lines(registration),
        ]) + _signature()
        if not _send(registration, f"A place for you: {registration.event.title}", text,
                     kind="events.promoted", ics=True):
            failed.append(registration)
    return failed


def cancellation(registration: Registration, cancelled, *, by_staff: bool) -> None:
    """Everyone a cancelled registration concerns (``cancelled``: what
    :func:`coop.events.services.cancel_registration` did): its owner, and whoever moved up."""
    place_cancelled(registration, cancelled.was, by_staff=by_staff)
    promoted(cancelled.promoted)


def place_cancelled(registration: Registration, was: str, *, by_staff: bool) -> None:
    """Tell someone that the organisers cancelled their place (``was`` registered) or their
    place in the queue, so they don't turn up expecting one; or, ``by_staff=False``, confirm
    that they cancelled it themselves (and that it was them)."""
    event = registration.event
    had = ("your place" if was == RegistrationStatus.REGISTERED
           else "your place on the waiting list")
    who = "The organisers have" if by_staff else "You have"
    text = "\n".join([
        f"Hello {registration.name or 'there'},", "",
        f"{who} cancelled {had} at {event.title}, on {event_when(event)} (London time).",
        "If you think this is a mistake, just reply to this email." if by_staff else
        "If it wasn't you, just reply to this email." if event.has_started() else
        "If it wasn't you, or you've changed your mind, register again on the event's page "
        f"while places last: {external_url('events.event', slug=event.slug)}", "",
        f"Other events: {external_url('events.index')}",
    ]) + _signature()
    _send(registration, f"Your registration is cancelled: {event.title}", text,
          kind="events.registration-cancelled")


#: how a message staff wrote may already begin (then no "Hello <name>," is put before it)
GREETINGS = ("hello", "hi ", "hi,", "dear ", "good morning", "good afternoon",
             "good evening")


def message(registrations: Sequence[Registration], subject: str, body: str
            ) -> list[Registration]:
    failed = []
    for registration in registrations:
        # the waiting list's place in line means nothing once the event has begun
        waiting = ([_status_line(registration), ""]
                   if registration.status == RegistrationStatus.WAITING
                   and not registration.event.has_started() else [])
        # greeted like every other event email, unless the staff member greeted them already
        greeted = body.lstrip().lower().startswith(GREETINGS)
        hello = [] if greeted else [f"Hello {registration.name or 'there'},", ""]
        text = "\n".join([*hello, body.strip(), "", "--", *waiting,
                          *_event_lines(registration)]) + _signature()
        if not _send(registration, subject, text, kind="events.message"):
            failed.append(registration)
    return failed


def reminder(registration: Registration) -> None:
    """The reminder before the event: the joining link for online events, else the venue."""
    event = registration.event
    # where it is, or the joining link, is in the event's lines (QA: each was there twice)
    lines = [f"Hello {registration.name or 'there'},", "",
             f"A reminder: {event.title} is on {event_when(event)} (London time).", "",
             "If you can no longer come, please cancel so someone on the waiting list can have "
             "your place." if event.capacity is not None else
             "If you can no longer come, please cancel, so we know.", "",
             *_event_lines(registration)]
    _send(registration, f"Reminder: {event.title}", "\n".join(lines) + _signature(),
          kind="events.reminder", ics=True)


def snapshot(event) -> tuple:
    """What registrants are told about when it changes: the time and the place."""
    return (event.starts_at, event.ends_at, event.online, event.venue, event.address,
            event.joining_url)


def people_to_tell(session: Session, event) -> list[Registration]:
    from coop.events import services

    return services.registrations_for(
        session, event, [RegistrationStatus.REGISTERED, RegistrationStatus.WAITING])


def changed(session: Session, event, before: tuple) -> int:
    """Tell everyone registered or waiting that the time or place changed (with the new
    ``.ics``, its SEQUENCE raised); nothing when neither did. Returns how many were told."""
    after = snapshot(event)
    if after == before or event.status != "published" or event.has_ended():
        return 0
    if after[:2] != before[:2]:
        event.reminded_at = None  # a new time: the reminder goes again before it
    what = " and ".join(part for part, moved in (("time", after[:2] != before[:2]),
                                                 ("place", after[2:] != before[2:])) if moved)
    was = (f"It was {times_when(before[0], before[1])}; it is now {event_when(event)}."
           if after[:2] != before[:2] else "")
    people = people_to_tell(session, event)
    for registration in people:
        has_place = registration.status == RegistrationStatus.REGISTERED
        text = "\n".join([
            f"Hello {registration.name or 'there'},", "",
            f"The {what} of {event.title} {'have' if ' and ' in what else 'has'} changed. "
            f"{was}".rstrip(), "",
            "Here are the details as they are now"
            + ("; the attached calendar file updates the entry in your calendar."
               if has_place else ". " + _status_line(registration)), "",
            *_event_lines(registration), "",
            "If you can no longer come, please cancel with the link above. Questions? Just "
            "reply to this email.",
        ]) + _signature()
        # a calendar entry only for a place: the waiting list's would read as one
        _send(registration, f"Changed: {event.title}", text, kind="events.changed",
              ics=has_place)
    return len(people)


def cancelled(session: Session, event) -> int:
    """Tell everyone registered or waiting that the event is cancelled (the ``.ics`` marks it
    cancelled in their calendar). Returns how many were told."""
    if event.has_ended(now_utc()):
        return 0
    people = people_to_tell(session, event)
    for registration in people:
        has_place = registration.status == RegistrationStatus.REGISTERED
        text = "\n".join([
            f"Hello {registration.name or 'there'},", "",
            f"We are sorry: {event.title}, on {event_when(event)} (London time), is "
            "cancelled."
            + (" The attached calendar file marks it cancelled in your calendar."
               if has_place else " You were on its waiting list."), "",
            f"Other events: {external_url('events.index')}", "",
            "Questions? Just reply to this email.",
        ]) + _signature()
        _send(registration, f"Cancelled: {event.title}", text, kind="events.cancelled",
              ics=has_place)
    return len(people)


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
