"""Public event pages: listings, event and series pages, calendars, the Atom feed and
registration (with cancelling by the emailed link)."""

from __future__ import annotations

import itertools

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_fresh
from sqlalchemy.exc import IntegrityError

from coop import submissions
from coop.access import access
from coop.cache import cached
from coop.db import Window, now_utc
from coop.events import display, feeds, links, notify, services
from coop.events.forms import MemberRegistrationForm, RegistrationForm
from coop.events.models import Event, Registration, RegistrationStatus, Series, Status
from coop.extensions import db, limiter
from coop.formatting import london_date
from coop.forms import ConfirmForm, EmptyForm, not_confirmed, redraws_on_stale_token
from coop.limits import current_page
from coop.mail import normalise_email

bp = Blueprint("events", __name__)

MODES = {"online": "Online", "in-person": "In person"}


def _member() -> bool:
    return current_user.is_authenticated


def _staff() -> bool:
    """Staff see drafts: with a login typed in this session, like every staff page."""
    return current_user.is_authenticated and current_user.is_staff and login_fresh()


def _event_or_404(slug: str) -> Event:
    """The event if this visitor may see it: drafts for staff, members-only for members."""
    if len(slug) > 200:
        abort(404)
    event = db.session.scalar(sa.select(Event).where(Event.slug == slug))
    if (event is not None and event.status == Status.DRAFT and current_user.is_authenticated
            and current_user.is_staff and not login_fresh()):
        abort(current_app.login_manager.needs_refresh())  # a remembered session: confirm
    if event is None or not services.visible_to(event, member=_member(), staff=_staff()):
        abort(404)
    return event


def _members_only_response(event: Event | None) -> Response | None:
    """A published members-only event's link, followed by someone logged out: 403 "Log in
    to see this" with a login link back to it (nothing about the event itself is shown)."""
    if event is None or _member() or not event.members_only \
            or event.status == Status.DRAFT:
        return None
    response = Response(render_template("events/members_only.html",
                                        next_url=url_for("events.event", slug=event.slug)),
                        status=403)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _series_or_404(slug: str) -> tuple[Series, list[Event]]:
    if len(slug) > 200:
        abort(404)
    series = db.session.scalar(sa.select(Series).where(Series.slug == slug))
    if series is None:
        abort(404)
    sessions = services.series_sessions(db.session, series, member=_member(), staff=_staff())
    if not sessions:
        abort(404)
    return series, sessions


def _by_month(events):
    return [(month, list(items)) for month, items in
            itertools.groupby(events, key=lambda e: london_date(e.starts_at, "MMMM y"))]


#: the query parameters the listings read (and the response cache keys them by)
LISTING_PARAMS = ("tag", "mode", "page")


def _listing(past: bool) -> str:
    """The listing page: ``?tag=``, ``?mode=online|in-person``, ``?page=``."""
    tag = (request.args.get("tag") or "").strip().lower()[:40] or None
    mode = request.args.get("mode") if request.args.get("mode") in MODES else None
    page = current_page()
    member = _member()
    stmt, params = services.listing_cards(db.session, now=now_utc(), member=member, past=past,
                                          tag=tag, mode=mode)
    pagination = Window(db.session, stmt, params, page=page,
                        per_page=current_app.config["EVENTS_PER_PAGE"])
    events = services.cards(db.session, pagination.items)
    show_series = not past and page == 1 and not tag and not mode
    return render_template(
        "events/index.html",
        pagination=pagination,
        months=_by_month(events),
        counts=services.place_counts(db.session, [e.id for e in events]),
        tag=tag,
        mode=mode,
        modes=MODES,
        tags=services.all_tags(db.session, member=member),
        past=past,
        series=services.upcoming_series(db.session, member=member) if show_series else [],
    )


@bp.route("/events")
@access("public")
@cached(params=LISTING_PARAMS)
def index():
    """Upcoming events, soonest first, by month."""
    return _listing(past=False)


@bp.route("/events/past")
@access("public")
@cached(params=LISTING_PARAMS)
def past():
    return _listing(past=True)


def _registration_for_user(event_ids: list[int]) -> dict[int, Registration]:
    if not current_user.is_authenticated or not event_ids:
        return {}
    rows = db.session.scalars(
        sa.select(Registration).where(
            Registration.event_id.in_(event_ids),
            Registration.status != RegistrationStatus.CANCELLED.value,
            sa.or_(Registration.user_id == current_user.id,
                   Registration.email == normalise_email(current_user.email)),
        )
    )
    return {r.event_id: r for r in rows}


def _registration_form():
    return MemberRegistrationForm() if _member() else RegistrationForm()


@bp.route("/events/<slug>")
@access("public")
def event(slug: str):
    """The event page; a members-only one answers a logged-out visitor 403 "Log in to see
    this" (drafts and unknown addresses stay 404)."""
    if len(slug) <= 200:
        refused = _members_only_response(
            db.session.scalar(sa.select(Event).where(Event.slug == slug)))
        if refused is not None:
            return refused
    event = _event_or_404(slug)
    return _render_event(event, _registration_form())


def _render_event(event: Event, form, status: int = 200):
    counts = services.place_counts(db.session, [event.id])[event.id]
    mine = _registration_for_user([event.id]).get(event.id)
    return render_template(
        "events/event.html",
        event=event,
        form=form,
        counts=counts,
        mine=mine,
        position=services.waiting_position(db.session, mine) if mine else None,
        problem=services.registration_problem(event, member=_member()),
        json_ld=display.json_ld(event, registered=counts["registered"]),
        google_url=display.google_calendar_url(event),
    ), status


def _email_already_registered(existing: list[Registration]) -> None:
    """To an address that was already registered, a reminder with its link (through the
    outbox, like every email: the page answers exactly as for a new registration)."""
    if existing:
        notify.already_registered(existing)
        db.session.commit()


def _address_key() -> str:
    """Per address and event (or series), whether or not the address is registered: it
    bounds the reminders someone else can make the app send to an address."""
    email = current_user.email if _member() else request.form.get("email", "")
    return f"{request.path}|{normalise_email(str(email))[:320]}"


def _registered_message(event: Event, position: int | None) -> tuple[str, str]:
    """The answer to registering: a place, or (``position`` given) number N on the list."""
    if position:
        return (f"“{event.title}” is full: you're on the waiting list, number {position} in "
                "line. We'll email you if a place comes up.", "info")
    return f"You're registered for “{event.title}”. We've emailed you the details.", "success"


def _new_position(event: Event) -> int | None:
    """The place in line a registration now would get (None: it would get a place). The
    answer to an address already registered, so that it reads as for a new one."""
    if not services.is_full(db.session, event):
        return None
    return len(services.waiting_list(db.session, event.id)) + 1


def _client_limit() -> str:
    return current_app.config["EVENTS_REGISTER_RATE_LIMIT"]


def _registered(response) -> bool:
    """Only a registration that went through counts, against the client's 60 and the
    address's 5: a typo redrawn with its message doesn't (QA: 20 tries an hour from one wifi,
    typos included, then the 429), and a stranger can't lock an address out of an event with
    posts that fail (review). Posts sent at the same moment can each pass before any is
    counted, so the 5 may be overrun by a few at once. A loose ceiling on every post from one
    client counts everything."""
    return response.status_code in (302, 303)


#: every post to a registration form from one client, whatever came of it
POSTS_PER_CLIENT = "300 per hour"


@bp.route("/events/<slug>/register", methods=["POST"])
@redraws_on_stale_token
@access("public")
@limiter.limit(_client_limit, methods=["POST"], deduct_when=_registered)
@limiter.limit(POSTS_PER_CLIENT, methods=["POST"])
@limiter.limit("5 per hour", key_func=_address_key, methods=["POST"], deduct_when=_registered)
def register(slug: str):
    """Register, or join the waiting list.

    To an address that is already registered, the answer is exactly the one a new
    registration would get (the same redirect and message), and the address's owner gets an
    email with their link instead: the page must never tell anyone who attends. A member
    registering their own account again is shown their registration.
    """
    event = _event_or_404(slug)
    form = _registration_form()
    if not form.validate_on_submit():
        return _render_event(event, form, 422)
    if _member():
        name, email, user = current_user.display_name, current_user.email, current_user
    else:
        name, email, user = form.name.data, form.email.data, None
    try:
        sent = submissions.claim(db.session, form)
        registration = services.register(db.session, event, name=name, email=email, user=user)
        notify.confirm([registration])
        # the event's page, which says "You have a place": never the signed link to the
        # registration, which the database must not hold (review)
        sent.leads_to(url_for("events.event", slug=event.slug))
        db.session.commit()
    except services.AlreadyRegistered as err:
        db.session.rollback()
        existing = err.registration
        if user is not None:  # their own account: nothing to hide from them
            flash(str(err), "info")
            return redirect(url_for("events.manage", token=links.link_token(existing)))
        flash(*_registered_message(event, _new_position(event)))
        # the form's key is kept as for a new registration, so sending it again answers the
        # same whether or not the address was registered (review: it told who attends)
        submissions.claim(db.session, form).leads_to(url_for("events.event", slug=event.slug))
        _email_already_registered([existing])
        db.session.commit()
        return redirect(url_for("events.event", slug=event.slug))
    except services.RegistrationClosed as err:
        db.session.rollback()
        return _refuse(event, form, str(err), 409)
    except IntegrityError:  # the same email at the same moment: the other request has it
        db.session.rollback()
        if user is not None:
            flash("You're already registered for this event.", "info")
        else:
            flash(*_registered_message(event, _new_position(event)))
        submissions.claim(db.session, form).leads_to(url_for("events.event", slug=event.slug))
        db.session.commit()
        return redirect(url_for("events.event", slug=event.slug))
    flash(*_registered_message(event, services.waiting_position(db.session, registration)))
    if user is not None:
        return redirect(url_for("events.manage", token=links.link_token(registration)))
    return redirect(url_for("events.event", slug=event.slug))


def _refuse(event: Event, form, message: str, status: int):
    if hasattr(form, "email"):
        form.email.errors = [*form.email.errors, message]
    else:
        flash(message, "error")
    return _render_event(event, form, status)


@bp.route("/series/<slug>")
@access("public")
def series(slug: str):
    series, sessions = _series_or_404(slug)
    return _render_series(series, sessions, _registration_form())


def _shared(sessions: list[Event], attribute: str) -> str | None:
    """The value every session has (said once on the series page), else None."""
    values = {getattr(e, attribute) for e in sessions}
    return values.pop() if len(values) == 1 else None


def _render_series(series: Series, sessions: list[Event], form, status: int = 200,
                   error: str | None = None):
    now = now_utc()
    open_sessions = [e for e in sessions
                     if services.registration_problem(e, member=_member()) is None]
    counts = services.place_counts(db.session, [e.id for e in sessions])
    mine = _registration_for_user([e.id for e in sessions])
    where = {e.id: display.event_where(e) for e in sessions}
    shared_where = where[sessions[0].id] if len(set(where.values())) == 1 else None
    return render_template(
        "events/series.html",
        series=series,
        sessions=sessions,
        upcoming=[e for e in sessions if not e.has_ended(now)],
        past=[e for e in sessions if e.has_ended(now)],
        open_sessions=open_sessions,
        counts=counts,
        mine=mine,
        positions={event_id: services.waiting_position(db.session, r)
                   for event_id, r in mine.items()},
        where=where,
        shared_where=shared_where,
        shared_presenters=_shared(sessions, "presenters"),
        shared_partner=_shared(sessions, "partner"),
        shared_details_url=_shared(sessions, "details_url"),
        form=form,
        error=error,
        json_ld=[display.json_ld(e, registered=counts[e.id]["registered"]) for e in sessions],
    ), status


@bp.route("/series")
@access("public")
@cached()
def series_index():
    """Every seminar series: those with sessions to come, then past ones (most recent
    first), so a finished series stays findable."""
    current, past = services.series_index(db.session, member=_member())
    return render_template("events/series_index.html", current=current, past=past)


@bp.route("/series/<slug>/register", methods=["POST"])
@redraws_on_stale_token
@access("public")
@limiter.limit(_client_limit, methods=["POST"], deduct_when=_registered)
@limiter.limit(POSTS_PER_CLIENT, methods=["POST"])
@limiter.limit("5 per hour", key_func=_address_key, methods=["POST"], deduct_when=_registered)
def register_series(slug: str):
    """Register for every open session. Sessions the address already has are answered as if
    new (see :func:`register`) and their owner is emailed their links."""
    series, sessions = _series_or_404(slug)
    form = _registration_form()
    if not form.validate_on_submit():
        return _render_series(series, sessions, form, 422)
    if _member():
        name, email, user = current_user.display_name, current_user.email, current_user
    else:
        name, email, user = form.name.data, form.email.data, None
    try:
        sent = submissions.claim(db.session, form)
        result = services.register_series(db.session, series, name=name, email=email,
                                          user=user)
        notify.confirm(result.created)
        sent.leads_to(url_for("events.series", slug=series.slug))
        db.session.commit()
    except services.RegistrationClosed as err:
        db.session.rollback()
        message = str(err)
        if hasattr(form, "email"):
            form.email.errors = [*form.email.errors, message]
        return _render_series(series, sessions, form, 409, error=message)
    except IntegrityError:  # the same email at the same moment: the other request has it
        db.session.rollback()
        flash(f"Thank you: we've emailed you about “{series.title}”.", "success")
        submissions.claim(db.session, form).leads_to(url_for("events.series", slug=series.slug))
        db.session.commit()
        return redirect(url_for("events.series", slug=series.slug))
    if user is not None and result.existing and not result.created:
        flash(f"You're already registered for every session of “{series.title}” that is "
              "still open.", "info")
        return redirect(url_for("events.series", slug=series.slug))
    # an existing registration counts as what a new one would be now: a place unless full
    waiting = sum(r.status == RegistrationStatus.WAITING for r in result.created)
    if user is None:
        waiting += sum(services.is_full(db.session, r.event) for r in result.existing)
        places = len(result.created) + len(result.existing) - waiting
    else:
        places = len(result.created) - waiting
    sessions = f"{places} session{'s' if places != 1 else ''}"
    text = (f"You're on the waiting list for {waiting} session{'s' if waiting != 1 else ''}"
            if not places else f"You're registered for {sessions}" + (
                f" and on the waiting list for {waiting}" if waiting else ""))
    flash(text + f" of “{series.title}”. We've emailed you the details and links to cancel.",
          "success")
    for event, reason in result.skipped:
        flash(f"{event.title}: {reason}", "info")
    if user is not None:
        for registration in result.existing:
            flash(f"{registration.event.title}: you're already registered.", "info")
    _email_already_registered([] if user is not None else result.existing)
    return redirect(url_for("events.series", slug=series.slug))


# --- by token: no login needed -------------------------------------------------------------


#: what a registration's link says once its event is long over (410)
LINK_EXPIRED = (f"This link has expired: the event it was for ended over "
                f"{links.KEEP_AFTER.days} days ago. If you have an account, your registrations "
                "are on your account page.")


def _registration_by_token_or_404(token: str) -> Registration:
    """The registration a link opens; 404 for a link that isn't ours, 410 (nothing about
    the registration shown) once its event is long over."""
    registration = services.by_token(db.session, links.stored_token(token) or "")
    if registration is None:
        abort(404)
    if links.expired(registration.event):
        abort(410, description=LINK_EXPIRED)
    return registration


@bp.route("/events/registration/<token>")
@access("public")
def manage(token: str):
    """What the confirmation email links to: the registration, the joining link (for people
    with a place) and a button to cancel. Cancelling is a POST: mail scanners follow links."""
    registration = _registration_by_token_or_404(token)
    response = Response(render_template(
        "events/manage.html", registration=registration, event=registration.event,
        form=EmptyForm(), when=display.event_when(registration.event),
        position=services.waiting_position(db.session, registration)))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/events/registration/<token>/cancel", methods=["POST"])
@access("public")
def cancel_by_token(token: str):
    registration = _registration_by_token_or_404(token)
    if not EmptyForm().validate_on_submit():
        abort(400)
    _cancel(registration)
    return redirect(url_for("events.manage", token=links.link_token(registration)))


@bp.route("/events/registrations/<int:registration_id>/cancel", methods=["POST"])
@access("member")
def cancel_mine(registration_id: int):
    """The cancel buttons on /account."""
    registration = db.session.get(Registration, registration_id)
    if registration is None or not (
        registration.user_id == current_user.id
        or registration.email == normalise_email(current_user.email)
    ):
        abort(404)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.confirm.data:
        flash(not_confirmed(f"Cancel my registration for {registration.event.title}"), "error")
        return redirect(url_for("accounts.account") + "#messages")  # the reason, in view (QA)
    _cancel(registration)
    return redirect(url_for("accounts.account"))


def _cancel(registration: Registration) -> None:
    try:
        cancelled = services.cancel_registration(db.session, registration)
        notify.cancellation(registration, cancelled, by_staff=False)
        db.session.commit()
    except services.NotCancellable as err:
        db.session.rollback()
        flash(str(err), "info")
        return
    flash(f"Your registration for “{registration.event.title}” is cancelled.", "success")


# --- calendars and feed --------------------------------------------------------------------


def _ics(body: bytes, filename: str) -> Response:
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": f'inline; filename="{filename}"'})


@bp.route("/events.ics")
@access("public")
@cached()  # the one freshness rule, as every public page
def calendar_feed():
    """Every public event still to come (and the last month's), to subscribe to."""
    events = services.feed_events(db.session)
    body = feeds.calendar(events, name=f"{current_app.config['SITE_NAME']}: events",
                          description="Events and seminars")
    return _ics(body, "events.ics")


@bp.route("/events/<slug>.ics")
@access("public")
@cached()  # the one freshness rule, as every public page
def event_ics(slug: str):
    event = _event_or_404(slug)
    return _ics(feeds.calendar([event], name=event.title), f"{event.slug}.ics")


@bp.route("/series/<slug>.ics")
@access("public")
@cached()  # the one freshness rule, as every public page
def series_ics(slug: str):
    series, sessions = _series_or_404(slug)
    sessions = [e for e in sessions if e.status != "draft"]
    return _ics(feeds.calendar(sessions, name=series.title, description=series.summary),
                f"{series.slug}.ics")


@bp.route("/events.atom")
@access("public")
@cached()  # the one freshness rule, as every public page
def atom_feed():
    return Response(feeds.atom(services.newly_published(db.session)),
                    mimetype="application/atom+xml")
