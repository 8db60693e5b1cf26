"""The staff side of events: create events and series, edit or cancel one session, see who is
coming, export them, mark attendance and message them."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from coop import submissions
from coop.access import access
from coop.csvexport import csv_response
from coop.events import notify, services
from coop.events.display import event_when
from coop.events.forms import BookingForm, EventForm, MessageForm, SeriesEditForm, SeriesForm
from coop.events.models import (
    AUDIENCE_PLACES,
    AUDIENCE_WAITING,
    Event,
    EventMessage,
    Registration,
    RegistrationStatus,
    Series,
)
from coop.extensions import db
from coop.formatting import london_datetime
from coop.forms import ConfirmForm, EmptyForm, not_confirmed, redraws_on_stale_token
from coop.limits import current_page

bp = Blueprint("events_staff", __name__, url_prefix="/staff/events")


def _event_or_404(event_id: int) -> Event:
    return db.get_or_404(Event, event_id)


@bp.route("")
@access("staff")
def index():
    """Every event, drafts included; upcoming first, then past."""
    page = current_page()
    show = request.args.get("show", "upcoming")
    now = dt.datetime.now(dt.UTC)
    stmt = sa.select(Event).options(selectinload(Event.series))
    if show == "past":
        stmt = stmt.where(Event.ends_at <= now).order_by(Event.starts_at.desc())
    else:
        show = "upcoming"
        stmt = stmt.where(Event.ends_at > now).order_by(Event.starts_at)
    pagination = db.paginate(stmt, page=page, per_page=50, error_out=False)
    counts = services.place_counts(db.session, [e.id for e in pagination.items])
    return render_template("events/staff/index.html", pagination=pagination, counts=counts,
                           show=show)


def _form_error(form, exc: services.EventError) -> None:
    if isinstance(exc, services.SlugTaken):
        form.slug.errors = [*form.slug.errors, str(exc)]
    elif isinstance(exc, services.CapacityError):
        form.capacity.errors = [*form.capacity.errors, str(exc)]
    elif isinstance(exc, services.VisibilityError):
        form.visibility.errors = [*form.visibility.errors, str(exc)]
    elif isinstance(exc, services.StatusError):
        form.status.errors = [*form.status.errors, str(exc)]
    elif isinstance(exc, services.TimeError):
        form.start_time.errors = [*form.start_time.errors, str(exc)]
    elif isinstance(exc, services.DateOutOfRange):
        date = getattr(form, "start_date", None) or form.first_date
        date.errors = [*date.errors, str(exc)]
    else:
        form.title.errors = [*form.title.errors, str(exc)]


@bp.route("/new", methods=["GET", "POST"])
@redraws_on_stale_token
@access("staff")
def new_event():
    form = _not_cancelled(EventForm())
    if form.validate_on_submit():
        sent = submissions.claim(db.session, form)
        try:
            event = services.create_event(db.session, form.details(form.title.data),
                                          form.starts_at, form.ends_at, slug=form.slug.data,
                                          by=current_user)
            url = sent.leads_to(url_for("events_staff.attendees", event_id=event.id))
            db.session.commit()
        except services.EventError as err:
            db.session.rollback()
            _form_error(form, err)
        else:
            flash(f"“{event.title}” is saved ({event.status}).", "success")
            return redirect(url)
    status = 422 if form.errors else 200
    return render_template("events/staff/event_form.html", form=form, event=None), status


@bp.route("/<int:event_id>/edit", methods=["GET", "POST"])
@redraws_on_stale_token
@access("staff")
def edit_event(event_id: int):
    """Edit one event (or one session of a series alone)."""
    event = _event_or_404(event_id)
    version = EventForm.version_of(event, "sequence", "status")
    if request.method == "GET":
        form = EventForm(obj=event)
        form.load(event)
        form.seen.data = version
    else:
        form = EventForm()  # only what was sent: never the event's own values as a fallback
    form.was_starting, form.was_ending = event.starts_at, event.ends_at
    if event.published_at is not None:  # see services.SlugFixed
        form.slug.render_kw = {"readonly": True}
        form.slug.description = ("Fixed once the event is published: people have it in emails, "
                                 "calendars and shared links.")
    _status_choices(form, event)
    valid = form.validate_on_submit()
    if valid:
        submissions.check(db.session, form)  # sent again (a double click): not a clash
    elif request.method == "POST":
        # a page drawn before a change says so at once, beside its other problems (QA: a
        # page drawn before the event was cancelled said only "Status: Choose one of the
        # options given", and said it had changed only when sent a second time)
        form.edited_meanwhile(version)
    if valid and not form.edited_meanwhile(version):
        sent = submissions.claim(db.session, form)
        try:
            before = notify.snapshot(event)
            promoted = services.update_event(db.session, event, form.details(form.title.data),
                                             form.starts_at, form.ends_at,
                                             slug=form.slug.data or event.slug, by=current_user)
            notify.promoted(promoted)
            told = notify.changed(db.session, event, before)
            url = sent.leads_to(url_for("events_staff.attendees", event_id=event.id))
            db.session.commit()
        except services.EventError as err:
            db.session.rollback()
            _form_error(form, err)
        else:
            flash(f"“{event.title}” is saved.", "success")
            if promoted:
                moved = len(promoted)
                flash(f"{moved} {'person' if moved == 1 else 'people'} moved up from the "
                      "waiting list.", "info")
            if told:
                flash(f"{told} {'person' if told == 1 else 'people'} registered or waiting "
                      f"{'is' if told == 1 else 'are'} emailed the new time or place.", "info")
            return redirect(url)
    status = 422 if form.errors else 200
    return render_template("events/staff/event_form.html", form=form, event=event), status


def _not_cancelled(form):
    """A new event or series can't start out cancelled (QA): nobody was told anything."""
    form.status.choices = [c for c in form.status.choices if c.value != "cancelled"]
    return form


def _status_choices(form, event: Event) -> None:
    """What editing can make of its status (``services.update_event`` has the rules): a
    cancelled event stays cancelled, and cancelling has its own button, which tells people."""
    if event.is_cancelled:
        form.status.choices = [c for c in form.status.choices if c.value == "cancelled"]
        form.status.description = "A cancelled event stays cancelled: everyone was told."
    else:
        form.status.choices = [c for c in form.status.choices if c.value != "cancelled"]
        form.status.description = ("To cancel it, use “Cancel this event” on its attendees "
                                   "page: everyone registered or waiting is emailed.")


@bp.route("/<int:event_id>/delete", methods=["POST"])
@access("staff")
def delete_event(event_id: int):
    """A draft made by mistake (see ``services.delete_event``)."""
    event = _event_or_404(event_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.confirm.data:
        flash(not_confirmed("Delete this draft"), "error")
        return redirect(url_for("events_staff.attendees", event_id=event.id))
    title = event.title
    try:
        services.delete_event(db.session, event, by=current_user)
    except services.EventError as err:
        db.session.rollback()
        flash(str(err), "error")
        return redirect(url_for("events_staff.attendees", event_id=event.id))
    db.session.commit()
    flash(f"Deleted the draft “{title}”.", "success")
    return redirect(url_for("events_staff.index"))


@bp.route("/<int:event_id>/cancel", methods=["POST"])
@access("staff", fresh=True)
def cancel_event(event_id: int):
    event = _event_or_404(event_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.confirm.data:
        flash(not_confirmed("Cancel this event"), "error")
        return redirect(url_for("events_staff.attendees", event_id=event.id))
    cancelled_now = services.cancel_event(db.session, event, by=current_user)
    told = notify.cancelled(db.session, event) if cancelled_now else 0
    db.session.commit()
    if not cancelled_now:  # sent twice, or from a page opened before: nobody is told again
        flash(f"“{event.title}” was already cancelled; nobody was emailed again.", "info")
    else:
        flash(f"“{event.title}” is cancelled. It stays listed, marked cancelled; the {told} "
              f"{'person' if told == 1 else 'people'} registered or waiting "
              f"{'is' if told == 1 else 'are'} emailed.", "success")
    return redirect(url_for("events_staff.attendees", event_id=event.id))


@bp.route("/series/new", methods=["GET", "POST"])
@redraws_on_stale_token
@access("staff")
def new_series():
    """A series and all its sessions from one form."""
    form = _not_cancelled(SeriesForm())
    if form.validate_on_submit():
        sent = submissions.claim(db.session, form)
        try:
            series = services.create_series(
                db.session, title=form.title.data.strip(),
                summary=(form.summary.data or "").strip(),
                description=form.description.data or "",
                first_date=form.first_date.data, start_time=form.start_time.data,
                duration=dt.timedelta(minutes=form.duration.data), repeat=form.repeat.data,
                count=form.count.data, details=form.details(form.title.data),
                slug=form.slug.data, by=current_user)
            url = sent.leads_to(url_for("events_staff.series", series_id=series.id))
            db.session.commit()
        except services.EventError as err:
            db.session.rollback()
            _form_error(form, err)
        else:
            flash(f"“{series.title}” is saved with {form.count.data} sessions.", "success")
            return redirect(url)
    status = 422 if form.errors else 200
    return render_template("events/staff/series_form.html", form=form), status


@bp.route("/series/<int:series_id>", methods=["GET", "POST"])
@redraws_on_stale_token  # QA: a stale token lost a typed Markdown description
@access("staff")
def series(series_id: int):
    series = db.session.get(Series, series_id)
    if series is None:
        abort(404)
    version = SeriesEditForm.version_of(series, *SeriesEditForm.EDITS)
    form = SeriesEditForm(obj=series) if request.method == "GET" else SeriesEditForm()
    if request.method == "GET":
        form.seen.data = version
    if form.validate_on_submit() and not form.edited_meanwhile(version):
        services.update_series(db.session, series, title=form.title.data.strip(),
                               summary=(form.summary.data or "").strip(),
                               description=form.description.data or "", by=current_user)
        db.session.commit()
        flash("The series is saved.", "success")
        return redirect(url_for("events_staff.series", series_id=series.id))
    sessions = services.series_sessions(db.session, series, member=True, staff=True)
    counts = services.place_counts(db.session, [e.id for e in sessions])
    status = 422 if form.errors else 200
    return render_template("events/staff/series.html", series=series, sessions=sessions,
                           counts=counts, form=form), status


@bp.route("/<int:event_id>")
@access("staff", fresh=True)
def attendees(event_id: int):
    """Who has a place, who is waiting (in order), attendance and messages sent. A fresh
    login, like the message form it holds: a remembered session (a cookie left on a shared
    computer, or stolen) must not email everyone registered in the paper's name, and is asked
    for the password before the message is typed rather than after."""
    event = _event_or_404(event_id)
    return _render_attendees(event, MessageForm())


def _render_attendees(event: Event, message_form, status: int = 200, booking_form=None):
    registered = services.registrations_for(db.session, event, [RegistrationStatus.REGISTERED])
    waiting = services.waiting_list(db.session, event.id)
    cancelled = services.registrations_for(db.session, event, [RegistrationStatus.CANCELLED])
    messages = db.session.scalars(
        sa.select(EventMessage).where(EventMessage.event_id == event.id)
        .order_by(EventMessage.sent_at.desc())
    ).all()
    return render_template("events/staff/attendees.html", event=event, registered=registered,
                           waiting=waiting, cancelled=cancelled, messages=messages,
                           message_form=message_form, empty_form=EmptyForm(),
                           booking_form=booking_form or BookingForm(formdata=None),
                           booking_problem=services.registration_problem(event, member=True),
                           when=event_when(event), sent_to=sent_to), status


@bp.route("/<int:event_id>/attendees.csv")
@access("staff", fresh=True)
def attendees_csv(event_id: int):
    event = _event_or_404(event_id)
    rows = services.registrations_for(
        db.session, event, [RegistrationStatus.REGISTERED, RegistrationStatus.WAITING])
    waiting_order = {r.id: n for n, r in enumerate(services.waiting_list(db.session, event.id),
                                                   start=1)}
    header = ["Name", "Email", "Status", "Waiting position", "Registered at (London)",
              "Member", "Attended", "Email failed"]
    data = [
        [r.name, r.email, r.status, waiting_order.get(r.id), london_datetime(r.created_at),
         r.user_id is not None, "" if r.attended is None else r.attended,
         r.mail_failed_at is not None]
        for r in rows
    ]
    return csv_response(f"{event.slug}-attendees.csv", header, data)


@bp.route("/<int:event_id>/registrations/<int:registration_id>/attendance", methods=["POST"])
@access("staff", fresh=True)
def attendance(event_id: int, registration_id: int):
    event = _event_or_404(event_id)
    registration = db.session.get(Registration, registration_id)
    if registration is None or registration.event_id != event.id:
        abort(404)
    value = request.form.get("attended")
    if value not in ("yes", "no", "unknown"):
        abort(400)
    attended = {"yes": True, "no": False, "unknown": None}[value]
    try:
        services.set_attendance(db.session, registration, attended, by=current_user)
        db.session.commit()
    except services.EventError as err:
        db.session.rollback()
        flash(str(err), "error")
    return redirect(url_for("events_staff.attendees", event_id=event.id) + "#registered")


@bp.route("/<int:event_id>/registrations/<int:registration_id>/cancel", methods=["POST"])
@access("staff", fresh=True)
def cancel_registration(event_id: int, registration_id: int):
    event = _event_or_404(event_id)
    registration = db.session.get(Registration, registration_id)
    if registration is None or registration.event_id != event.id:
        abort(404)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.confirm.data:
        flash(not_confirmed(f"Take {registration.name} off the waiting list"
                            if registration.status == RegistrationStatus.WAITING
                            else f"Cancel place of {registration.name}"), "error")
        return redirect(url_for("events_staff.attendees", event_id=event.id))
    try:
        cancelled = services.cancel_registration(db.session, registration, by=current_user)
        notify.cancellation(registration, cancelled, by_staff=True)
        db.session.commit()
    except services.EventError as err:
        db.session.rollback()
        flash(str(err), "error")
        return redirect(url_for("events_staff.attendees", event_id=event.id))
    flash(f"{registration.name} is off the waiting list, and they have been emailed."
          if cancelled.was == RegistrationStatus.WAITING else
          f"{registration.name}'s registration is cancelled, and they have been emailed.",
          "success")
    return redirect(url_for("events_staff.attendees", event_id=event.id))


@bp.route("/<int:event_id>/bookings", methods=["POST"])
@redraws_on_stale_token
@access("staff", fresh=True)
def book(event_id: int):
    """Put someone on the list (a booking by phone, by post or at the door): a place if one
    is free, else the waiting list; they get the same confirmation email as anyone."""
    event = _event_or_404(event_id)
    form = BookingForm()
    if not form.validate_on_submit():
        return _render_attendees(event, MessageForm(formdata=None), 422, booking_form=form)
    sent = submissions.claim(db.session, form)
    try:
        registration = services.register(db.session, event, name=form.name.data,
                                          email=form.email.data, booked_by=current_user)
        notify.confirm([registration])
        url = sent.leads_to(url_for("events_staff.attendees", event_id=event.id))
        db.session.commit()
    except (services.AlreadyRegistered, IntegrityError):
        db.session.rollback()
        form.email.errors = [*form.email.errors, f"{form.email.data} is on this event's list "
                             "already (with a place or waiting)."]
        return _render_attendees(event, MessageForm(formdata=None), 422, booking_form=form)
    except services.RegistrationClosed as err:
        db.session.rollback()
        form.email.errors = [*form.email.errors, str(err)]
        return _render_attendees(event, MessageForm(formdata=None), 409, booking_form=form)
    where = ("on the waiting list" if registration.status == RegistrationStatus.WAITING
             else "registered")
    flash(f"{registration.name} is {where}, and has been emailed the confirmation.", "success")
    return redirect(url)


@bp.route("/<int:event_id>/message", methods=["POST"])
@redraws_on_stale_token
@access("staff", fresh=True)
def message(event_id: int):
    """Email everyone with a place; the message is recorded and failures are flagged."""
    event = _event_or_404(event_id)
    form = MessageForm()
    if not form.validate_on_submit():
        return _render_attendees(event, form, 422)
    sent = submissions.claim(db.session, form)
    audience = form.audience.data
    recipients = services.message_recipients(db.session, event, audience)
    if not recipients:
        db.session.rollback()  # its key too: nothing was sent
        nobody = {AUDIENCE_PLACES: "Nobody has a place yet",
                  AUDIENCE_WAITING: "Nobody is on the waiting list"}.get(
                      audience, "Nobody has a place or is waiting yet")
        form.audience.errors = [*form.audience.errors,
                                f"{nobody}: there's no one to send it to."]
        return _render_attendees(event, form, 422)
    failed = notify.message(recipients, form.subject.data.strip(), form.body.data)
    services.record_message(db.session, event, subject=form.subject.data.strip(),
                            body=form.body.data, recipients=len(recipients),
                            failures=len(failed), by=current_user, audience=audience)
    url = sent.leads_to(url_for("events_staff.attendees", event_id=event.id))
    db.session.commit()
    flash(f"Sent to {sent_to(audience, len(recipients))}. Any that can't be delivered are "
          "listed under Undelivered mail.", "success")
    return redirect(url)


def sent_to(audience: str, count: int) -> str:
    """"the one person with a place", "all 12 people on the waiting list"."""
    where = {AUDIENCE_PLACES: "with a place", AUDIENCE_WAITING: "on the waiting list"}.get(
        audience, "with a place or on the waiting list")
    return f"the one person {where}" if count == 1 else f"all {count} people {where}"


def staff_today(session) -> dict:
    """The "staff_today" hook: the next events (members-only ones too) and their places."""
    events = services.upcoming(session, limit=3, member=True)
    return {"template": "events/staff/_today.html", "order": 30, "next_events": events,
            "places": services.place_counts(session, [e.id for e in events])}
