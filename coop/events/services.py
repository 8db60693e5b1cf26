"""Event rules as plain functions: times in London, series dates, registration and queues.

Functions take a SQLAlchemy session, ``flush()`` and never commit; the caller commits once.
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import datetime as dt
import enum
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from coop import audit, cache, limits, outbox, timeutil
from coop.db import now_utc, rows, windowed
from coop.events.models import (
    AUDIENCE_BOTH,
    AUDIENCE_PLACES,
    AUDIENCE_WAITING,
    SLUG_LENGTH,
    TAG_LENGTH,
    TITLE_LENGTH,
    Event,
    EventFlags,
    EventMessage,
    EventTag,
    Registration,
    RegistrationStatus,
    Series,
    Status,
    Visibility,
    new_token,
)
from coop.mail import normalise_email

#: slugs that would clash with fixed URLs under /events/
RESERVED_SLUGS = {"past", "new", "registration", "registrations"}
MAX_SERIES_COUNT = 52


class EventError(Exception):
    """A rule refused the change; ``str(err)`` is the message for the reader."""


class TimeError(EventError):
    """A London wall-clock time that does not exist (the spring-forward gap)."""


class SlugTaken(EventError):
    """The web address can't be used (the form shows it next to that field)."""


class SlugFixed(SlugTaken):
    """A published event keeps its address: people have it in emails, calendars and links."""


class VisibilityError(EventError):
    """Who can see the event can't change that way now (the form says so beside it)."""


class DateOutOfRange(EventError):
    """A date outside ``coop.limits``' range (the form says so next to the date)."""


class RegistrationClosed(EventError):
    pass


class AlreadyRegistered(EventError):
    """This email already has a place or is waiting; ``.registration`` is that one.

    Public views must not say so to whoever typed the address (that would tell anyone who
    attends): they answer as for a new registration and email the address's owner."""

    def __init__(self, message: str, registration: Registration | None = None):
        super().__init__(message)
        self.registration = registration


class CapacityError(EventError):
    pass


class NotCancellable(EventError):
    pass


class StatusError(EventError):
    """A change of status the edit form can't make, since people must be told (the form says
    so next to the status)."""


# --- time -----------------------------------------------------------------------------------


def london_to_utc(day: dt.date, time: dt.time) -> dt.datetime:
    """The UTC instant of a London wall-clock time.

    A time in the spring-forward gap (01:30 on 27 March 2022) does not exist, and one that
    happens twice in the autumn (01:30 on 30 October 2022) can't be told apart: both are
    refused (QA: an event 01:30-02:15 that night was taken as 1 hour 45, and a session
    01:30-01:30 could no longer be saved). Forms give a time shown back unchanged its stored
    instant instead (:meth:`coop.events.forms.EventForm.validate`).
    """
    local = dt.datetime.combine(day, time.replace(tzinfo=None, fold=0))
    try:
        utc = timeutil.london_to_utc(local)
    except timeutil.NonexistentLocalTime:
        raise TimeError(
            f"{time:%H:%M} on {day.day} {day:%B %Y} doesn't exist in London: the clocks go "
            "forward an hour that night. Choose another time."
        ) from None
    if local.replace(fold=1, tzinfo=timeutil.LONDON).utcoffset() != \
            local.replace(tzinfo=timeutil.LONDON).utcoffset():
        raise TimeError(
            f"{time:%H:%M} on {day.day} {day:%B %Y} happens twice in London: the clocks go "
            "back an hour that night. Choose a time before 1am or from 2am."
        )
    return utc


class Repeat(enum.StrEnum):
    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"


def nth_weekday(day: dt.date) -> int:
    """1 for the first Wednesday of the month, … 4; -1 for a fifth one (the last)."""
    n = (day.day - 1) // 7 + 1
    return -1 if n == 5 else n


def weekday_in_month(year: int, month: int, weekday: int, n: int) -> dt.date:
    days = [d for d in calendar.Calendar().itermonthdates(year, month)
            if d.month == month and d.weekday() == weekday]
    return days[-1] if n == -1 else days[n - 1]


def series_dates(first: dt.date, repeat: Repeat | str, count: int) -> list[dt.date]:
    """``count`` dates from ``first``: weekly, fortnightly, or monthly on the same weekday
    ("2nd Wednesday"; a 5th weekday means "the last" one each month)."""
    repeat = Repeat(repeat)
    if not 1 <= count <= MAX_SERIES_COUNT:
        raise EventError(f"A series has between 1 and {MAX_SERIES_COUNT} sessions.")
    if repeat == Repeat.WEEKLY:
        return [first + dt.timedelta(weeks=i) for i in range(count)]
    if repeat == Repeat.FORTNIGHTLY:
        return [first + dt.timedelta(weeks=2 * i) for i in range(count)]
    n = nth_weekday(first)
    dates = []
    for i in range(count):
        month_index = first.month - 1 + i
        year, month = first.year + month_index // 12, month_index % 12 + 1
        dates.append(weekday_in_month(year, month, first.weekday(), n))
    return dates


# --- slugs and tags -------------------------------------------------------------------------


def slugify(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[: SLUG_LENGTH - 12].strip("-") or "event"


SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _slug_exists(session: Session, model, slug: str, exclude_id: int | None) -> bool:
    stmt = sa.select(model.id).where(model.slug == slug)
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    return session.scalar(stmt) is not None


def unique_slug(session: Session, model, base: str, exclude_id: int | None = None) -> str:
    """``base``, or ``base-2``, ``base-3``… whichever is free."""
    base = slugify(base)
    if base in RESERVED_SLUGS:
        base = f"{base}-event"
    slug, n = base, 1
    while _slug_exists(session, model, slug, exclude_id):
        n += 1
        slug = f"{base}-{n}"
    return slug


def parse_tags(text: str | Iterable[str]) -> list[str]:
    """``"Science, science , Marxism"`` → ``["marxism", "science"]``."""
    items = text.split(",") if isinstance(text, str) else list(text)
    tags = {" ".join(t.split()).lower()[:TAG_LENGTH] for t in items}
    return sorted(t for t in tags if t)


# --- creating and editing -------------------------------------------------------------------


@dataclasses.dataclass
class EventDetails:
    """What staff type about an event (or every session of a new series)."""

    title: str
    summary: str = ""
    description: str = ""
    online: bool = False
    joining_url: str = ""
    joining_url_public: bool = False
    venue: str = ""
    address: str = ""
    details_url: str = ""
    presenters: str = ""
    partner: str = ""
    tags: list[str] = dataclasses.field(default_factory=list)
    capacity: int | None = None
    visibility: str = Visibility.PUBLIC.value
    status: str = Status.DRAFT.value

    def check(self) -> None:
        if self.status not in set(Status) or self.visibility not in set(Visibility):
            raise EventError("Unknown status or visibility.")
        for name in ONE_LINE_DETAILS:
            if limits.has_control_characters(getattr(self, name)):
                raise EventError(f"The {name.replace('_', ' ')}: "
                                 f"{limits.SINGLE_LINE_MESSAGE[0].lower()}"
                                 f"{limits.SINGLE_LINE_MESSAGE[1:]}")
        if self.capacity is not None and self.capacity < 1:
            raise CapacityError("Capacity must be at least 1, or empty for no limit.")


_DETAIL_FIELDS = [f.name for f in dataclasses.fields(EventDetails) if f.name != "tags"]
#: what goes into email subjects, calendar lines and feeds: never a line break
ONE_LINE_DETAILS = ("title", "summary", "joining_url", "venue", "address", "details_url",
                    "presenters", "partner")


def _apply(event: Event, details: EventDetails) -> bool:
    """Copy ``details`` onto ``event``; True if anything changed."""
    changed = False
    for name in _DETAIL_FIELDS:
        value = getattr(details, name)
        if getattr(event, name) != value:
            setattr(event, name, value)
            changed = True
    tags = parse_tags(details.tags)
    if event.tag_names != tags:
        event.tags = [EventTag(tag=t) for t in tags]
        changed = True
    return changed


def _check_status_change(session: Session, event: Event, status: str) -> None:
    """Editing may publish a draft or make an unseen event a draft again; cancelling has its
    own button, which tells everyone registered or waiting, and a cancelled event stays so
    (they were told: putting it back would give them places they think they lost).

    :raise StatusError: for any other change of status.
    """
    if status == event.status:
        return
    if status == Status.CANCELLED:
        raise StatusError("To cancel the event, use “Cancel this event” on its attendees "
                          "page: everyone registered or waiting is emailed.")
    if event.status == Status.CANCELLED:
        raise StatusError("A cancelled event stays cancelled: everyone registered was told. "
                          "Make a new event for the new date.")
    if status == Status.DRAFT:
        people = session.scalar(
            sa.select(sa.func.count()).select_from(Registration)
            .where(Registration.event_id == event.id,
                   Registration.status.in_([RegistrationStatus.REGISTERED.value,
                                            RegistrationStatus.WAITING.value]))) or 0
        if people:
            raise StatusError(f"{people} {'person is' if people == 1 else 'people are'} "
                              "registered or waiting: cancel the event instead, so they are "
                              "told, rather than hide it as a draft.")


def _check_no_one_shut_out(session: Session, event: Event) -> None:
    """An event made members-only would vanish for the people who registered without an
    account: their emailed links would say "Log in to see this", and calendar subscriptions
    would drop it without a cancellation (QA).

    :raise VisibilityError: someone registered or waiting has no account.
    """
    people = session.scalar(
        sa.select(sa.func.count()).select_from(Registration)
        .where(Registration.event_id == event.id, Registration.user_id.is_(None),
               Registration.status.in_([RegistrationStatus.REGISTERED.value,
                                        RegistrationStatus.WAITING.value]))) or 0
    if people:
        raise VisibilityError(
            f"{people} {'person' if people == 1 else 'people'} registered or waiting without "
            "an account would no longer see the event, and their links would ask them to log "
            "in. Keep it open to everyone, or cancel it (they are told) and make a new "
            "members-only event.")


def _check_times(starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    for value, what in ((starts_at, "The date"), (ends_at, "The end date")):
        problem = limits.date_problem(timeutil.to_london(value).date(), what)
        if problem:
            raise DateOutOfRange(problem)
    if ends_at <= starts_at:
        raise EventError("The end must be after the start.")


def check_series_dates(dates: Sequence[dt.date]) -> None:
    """:raise DateOutOfRange: when the series would run outside ``coop.limits``' range."""
    for day in (dates[0], dates[-1]) if dates else ():
        if not limits.date_in_range(day):
            raise DateOutOfRange(
                f"The sessions would run to {day.day} {day:%B} {day.year}: every session "
                f"must be {limits.DATE_RANGE_TEXT}. Choose an earlier date or fewer sessions.")


def create_event(session: Session, details: EventDetails, starts_at: dt.datetime,
                 ends_at: dt.datetime, *, slug: str = "", series: Series | None = None,
                 by=None) -> Event:
    details.check()
    _check_times(starts_at, ends_at)
    if slug:
        if slug in RESERVED_SLUGS or not SLUG_RE.match(slug):
            raise SlugTaken(f"“{slug}” can't be used as an address; choose another.")
        if _slug_exists(session, Event, slug, None):
            raise SlugTaken(f"Another event already uses the address “{slug}”.")
    else:
        slug = unique_slug(session, Event, details.title)
    event = Event(slug=slug, starts_at=starts_at, ends_at=ends_at, series=series, sequence=0)
    _apply(event, details)
    if event.status != Status.DRAFT:
        event.published_at = now_utc()
    session.add(event)
    session.flush()
    audit.record(session, "event.created", "event", event.id, by=by, status=event.status)
    return event


def update_event(session: Session, event: Event, details: EventDetails,
                 starts_at: dt.datetime, ends_at: dt.datetime, *, slug: str | None = None,
                 by=None) -> list[Registration]:
    """Change one event (one session of a series alone). Calendar SEQUENCE goes up when
    anything changed. Returns the people moved up from the waiting list if places grew."""
    details.check()
    _check_times(starts_at, ends_at)
    if slug and slug != event.slug and event.published_at is not None:
        raise SlugFixed(f"A published event keeps its address, /events/{event.slug}: people "
                        "have it in emails, calendars and shared links, which would stop "
                        "working.")
    if slug and slug != event.slug:
        if slug in RESERVED_SLUGS or not SLUG_RE.match(slug):
            raise SlugTaken(f"“{slug}” can't be used as an address; choose another.")
        if _slug_exists(session, Event, slug, event.id):
            raise SlugTaken(f"Another event already uses the address “{slug}”.")
    lock_event(session, event)
    _check_status_change(session, event, details.status)
    if details.visibility == Visibility.MEMBERS and event.visibility != Visibility.MEMBERS:
        _check_no_one_shut_out(session, event)
    if details.capacity is not None:
        taken = count_registered(session, event.id)
        if details.capacity < taken:
            raise CapacityError(
                f"{taken} people already have a place: the capacity can't go below that. "
                "Cancel registrations first if you must."
            )
    changed = _apply(event, details)
    if slug and slug != event.slug:
        event.slug = slug
        changed = True
    if event.starts_at != starts_at or event.ends_at != ends_at:
        event.starts_at, event.ends_at = starts_at, ends_at
        changed = True
    if not changed:
        return []
    event.sequence += 1
    event.updated_at = now_utc()
    if event.status != Status.DRAFT and event.published_at is None:
        event.published_at = now_utc()
    session.flush()
    audit.record(session, "event.updated", "event", event.id, by=by, sequence=event.sequence)
    return _fill_places(session, event)


def cancel_event(session: Session, event: Event, *, by=None) -> bool:
    """Mark it cancelled: it stays listed (and in calendars, as STATUS:CANCELLED). False when
    it was cancelled already, read holding the event's lock: of two staff (or a double click)
    cancelling at once, one cancels and tells everyone, the other changes nothing."""
    lock_event(session, event)
    session.refresh(event)  # its status and sequence as they are now
    if event.status == Status.CANCELLED:
        return False
    event.status = Status.CANCELLED.value
    event.sequence += 1
    event.updated_at = now_utc()
    if event.published_at is None:
        event.published_at = now_utc()
    session.flush()
    audit.record(session, "event.cancelled", "event", event.id, by=by)
    return True


def delete_event(session: Session, event: Event, *, by=None) -> None:
    """An event made by mistake: only one never published (nobody has seen it, had it in a
    calendar or registered). Audited with its title; a published one is cancelled instead."""
    if event.published_at is not None or event.status != Status.DRAFT:
        raise NotCancellable("Only a draft that was never published can be deleted: people "
                             "may have seen this one, so cancel it instead.")
    audit.record(session, "event.deleted", "event", event.id, by=by, title=event.title,
                 starts_at=event.starts_at.isoformat())
    session.delete(event)
    session.flush()


def create_series(session: Session, *, title: str, summary: str, description: str,
                  first_date: dt.date, start_time: dt.time, duration: dt.timedelta,
                  repeat: Repeat | str, count: int, details: EventDetails, slug: str = "",
                  by=None) -> Series:
    """A series and its sessions in one go: "Wednesdays from 9 November 2022, 7pm, 3 sessions"."""
    if duration <= dt.timedelta(0):
        raise EventError("The duration must be more than zero.")
    base = details.title or title
    if count > 1 and len(longest := f"{base}: session {count} of {count}") > TITLE_LENGTH:
        # each session is called "<title>: session 3 of 12" (QA: a 500 on PostgreSQL)
        room = TITLE_LENGTH - (len(longest) - len(base))
        raise EventError(f"Keep the title to {room:,} characters: each session is called "
                         f"“…: session {count} of {count}”, and a session's title can be at "
                         f"most {TITLE_LENGTH:,}.")
    dates = series_dates(first_date, repeat, count)
    check_series_dates(dates)
    starts = [london_to_utc(day, start_time) for day in dates]  # a gap date is refused
    if slug:
        if not SLUG_RE.match(slug) or _slug_exists(session, Series, slug, None):
            raise SlugTaken(f"Another series already uses the address “{slug}”.")
    else:
        slug = unique_slug(session, Series, title)
    series = Series(slug=slug, title=title, summary=summary, description=description)
    session.add(series)
    session.flush()
    for number, starts_at in enumerate(starts, start=1):
        session_details = dataclasses.replace(details, tags=list(details.tags))
        session_details.title = f"{base}: session {number} of {count}" if count > 1 else base
        create_event(session, session_details, starts_at, starts_at + duration,
                     series=series, by=by)
    audit.record(session, "event_series.created", "event_series", series.id, by=by,
                 sessions=count)
    return series


def update_series(session: Session, series: Series, *, title: str, summary: str,
                  description: str, by=None) -> Series:
    series.title, series.summary, series.description = title, summary, description
    session.flush()
    audit.record(session, "event_series.updated", "event_series", series.id, by=by)
    return series


# --- who can see what -----------------------------------------------------------------------


def visible_to(event: Event, *, member: bool, staff: bool = False) -> bool:
    """Drafts only for staff; members-only events only for logged-in people."""
    if staff:
        return True
    if event.status == Status.DRAFT:
        return False
    return member or event.visibility == Visibility.PUBLIC


#: the moment the public lists are read at: a parameter, so their statements are built once
NOW = sa.bindparam("now", type_=Event.ends_at.type)
#: the earliest start an event still running can have (:func:`running_since`)
SINCE = sa.bindparam("since", type_=Event.starts_at.type)
_SHOWN = (Status.PUBLISHED.value, Status.CANCELLED.value)
_LONGEST = sa.select(sa.func.max(Event.duration_seconds))


def running_since(session: Session, now: dt.datetime) -> dt.datetime:
    """The earliest start of any event not over at ``now``: now less the longest event's
    length (read from its index, kept under the cache's freshness rule). The upcoming
    statements walk the starts_at index from here rather than from the first event ever
    held: with events of a few hours, only the last few hours' are stepped over, however
    many years lie behind. (One event lasting months widens the walk to months.)"""
    longest = cache.memo("events.longest", lambda: session.scalar(_LONGEST) or 0)
    return now - dt.timedelta(seconds=longest)


def _listing_where(stmt: sa.Select, *, member: bool, past: bool, tag: bool,
                   mode: str | None) -> sa.Select:
    """The listing's conditions and order on ``stmt`` (of events or of card columns)."""
    stmt = stmt.where(Event.status.in_(_SHOWN))
    if not member:
        stmt = stmt.where(Event.visibility == Visibility.PUBLIC.value)
    if past:
        # An event ends after it starts (the ends_after_start constraint), so one that has
        # ended started before now: saying so lets the index start at now and walk back,
        # instead of stepping over every event still to come.
        stmt = (stmt.where(Event.ends_at <= NOW, Event.starts_at < NOW)
                .order_by(Event.starts_at.desc(), Event.id.desc()))
    else:
        # Not over yet, so begun no earlier than :func:`running_since` (``:since``).
        stmt = (stmt.where(Event.ends_at > NOW, Event.starts_at >= SINCE)
                .order_by(Event.starts_at, Event.id))
    if tag:
        stmt = stmt.where(Event.tags.any(EventTag.tag == sa.bindparam("tag", type_=sa.String)))
    if mode == "online":
        stmt = stmt.where(Event.online.is_(True))
    elif mode == "in-person":
        stmt = stmt.where(Event.online.is_(False))
    return stmt


@dataclasses.dataclass(frozen=True, slots=True)
class SeriesLink:
    slug: str
    title: str


@dataclasses.dataclass(frozen=True, slots=True)
class Card(EventFlags):
    """What a listing's card shows of an event, read as plain rows (an ``Event`` would be
    loaded, tracked and its tags and series loaded by relationship, for twenty read-only
    cards). The names are the model's, so ``event_when``/``event_where`` read either."""

    id: int
    slug: str
    title: str
    summary: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    online: bool
    venue: str
    address: str
    presenters: str
    partner: str
    capacity: int | None
    visibility: str
    status: str
    series: SeriesLink | None
    tag_names: tuple[str, ...]


#: the columns of a :class:`Card` read from ``events`` (then the series' slug and title)
_CARD_COLUMNS = tuple(getattr(Event, f.name) for f in dataclasses.fields(Card)
                      if f.name not in ("series", "tag_names"))

_CARD_TAGS = (sa.select(EventTag.event_id, EventTag.tag)
              .where(EventTag.event_id.in_(sa.bindparam("ids", expanding=True)))
              .order_by(EventTag.event_id, EventTag.tag))


@functools.lru_cache(maxsize=64)
def _card_window(*, member: bool, past: bool, tag: bool, mode: str | None) -> sa.Select:
    stmt = (sa.select(*_CARD_COLUMNS, Series.slug, Series.title)
            .outerjoin(Series, Series.id == Event.series_id))
    return windowed(_listing_where(stmt, member=member, past=past, tag=tag, mode=mode))


def listing_cards(session: Session, *, now: dt.datetime, member: bool, past: bool = False,
                  tag: str | None = None, mode: str | None = None) -> tuple[sa.Select, dict]:
    """The public listing's statement (published and cancelled events, soonest first, or
    latest first when ``past``), one row per card, and its parameters: for a
    :class:`coop.db.Window`, then :func:`cards`. The statement is built once per kind of
    listing and the values passed beside it."""
    stmt = _card_window(member=member, past=past, tag=bool(tag),
                        mode=mode if mode in ("online", "in-person") else None)
    params = {"now": now} if past else {"now": now, "since": running_since(session, now)}
    if tag:
        params["tag"] = tag
    return stmt, params


def cards(session: Session, found: Sequence[sa.Row]) -> list[Card]:
    """The cards of rows ``found`` by :func:`listing_cards`' statement, with their tags in
    one query."""
    tags: dict[int, list[str]] = {}
    if found:
        for event_id, name in rows(session, _CARD_TAGS, {"ids": [r[0] for r in found]}):
            tags.setdefault(event_id, []).append(name)
    made = []
    for *columns, series_slug, series_title in found:
        series = SeriesLink(series_slug, series_title) if series_slug is not None else None
        made.append(Card(*columns, series, tuple(tags.get(columns[0], ()))))
    return made


@dataclasses.dataclass(frozen=True, slots=True)
class NextEvent:
    """What the home page's "Coming up" and the staff's day show of an event: plain row."""

    id: int
    slug: str
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    online: bool
    capacity: int | None


@functools.lru_cache(maxsize=2)
def _upcoming(*, member: bool) -> sa.Select:
    """The next published events, with ``:now``, ``:since`` and ``:limit`` as parameters:
    built once (building one costs more than running it)."""
    stmt = sa.select(*(getattr(Event, f.name) for f in dataclasses.fields(NextEvent)))
    return (_listing_where(stmt, member=member, past=False, tag=False, mode=None)
            .where(Event.status == Status.PUBLISHED.value)
            .limit(sa.bindparam("limit", type_=sa.Integer)))


def upcoming(session: Session, *, limit: int, member: bool = False,
             now: dt.datetime | None = None) -> list[NextEvent]:
    """The next published events, soonest first (the home page's list, the staff's day)."""
    now = now or now_utc()
    return [NextEvent(*row) for row in rows(session, _upcoming(member=member), {
        "now": now, "since": running_since(session, now), "limit": limit})]


@functools.lru_cache(maxsize=4)
def _series_statements(*, member: bool) -> tuple[sa.Select, sa.Select]:
    """The two statements of :func:`upcoming_series`, with ``:now``, ``:limit``,
    ``:series_ids`` and ``:per_series`` as parameters."""
    conditions = [Event.status.in_(_SHOWN), Event.ends_at > NOW, Event.series_id.is_not(None)]
    if not member:
        conditions.append(Event.visibility == Visibility.PUBLIC.value)
    first = sa.func.min(Event.starts_at)
    series_ids = (sa.select(Event.series_id).where(*conditions).group_by(Event.series_id)
                  .order_by(first, Event.series_id)
                  .limit(sa.bindparam("limit", type_=sa.Integer)))
    number = sa.func.row_number().over(partition_by=Event.series_id,
                                       order_by=(Event.starts_at, Event.id)).label("number")
    ranked = (sa.select(Event.id, number)
              .where(*conditions,
                     Event.series_id.in_(sa.bindparam("series_ids", expanding=True)))
              .subquery())
    events = (sa.select(Event).join(ranked, ranked.c.id == Event.id)
              .where(ranked.c.number <= sa.bindparam("per_series", type_=sa.Integer))
              .options(selectinload(Event.series))
              .order_by(Event.starts_at, Event.id))
    return series_ids, events


def upcoming_series(session: Session, *, member: bool, now: dt.datetime | None = None,
                    limit: int = 5, per_series: int = 6) -> list[tuple[Series, list[Event]]]:
    """The next ``limit`` series with sessions to come, each with its next ``per_series``
    sessions: three queries however many events there are."""
    now = now or now_utc()
    ids_stmt, events_stmt = _series_statements(member=member)
    series_ids = list(session.scalars(ids_stmt, {"now": now, "limit": limit}))
    if not series_ids:
        return []
    events = session.scalars(events_stmt, {"now": now, "series_ids": series_ids,
                                           "per_series": per_series}).all()
    grouped: dict[int, list[Event]] = {i: [] for i in series_ids}
    for event in events:
        grouped[event.series_id].append(event)
    return [(items[0].series, items) for items in grouped.values() if items]


def series_index(session: Session, *, member: bool, now: dt.datetime | None = None
                 ) -> tuple[list[tuple[Series, list[Event]]], list[tuple[Series, list[Event]]]]:
    """Every series with a session this visitor may see, as (current, past): a series is
    current while any session has yet to end. Current ones soonest first, past ones most
    recent first; each with all its visible sessions."""
    now = now or now_utc()
    conditions = [Event.status.in_([Status.PUBLISHED.value, Status.CANCELLED.value]),
                  Event.series_id.is_not(None)]
    if not member:
        conditions.append(Event.visibility == Visibility.PUBLIC.value)
    events = session.scalars(
        sa.select(Event).where(*conditions).options(selectinload(Event.series))
        .order_by(Event.starts_at, Event.id)).all()
    grouped: dict[int, list[Event]] = {}
    for event in events:
        grouped.setdefault(event.series_id, []).append(event)
    current, past = [], []
    for items in grouped.values():
        if any(not e.has_ended(now) for e in items):
            current.append((items[0].series, items))
        else:
            past.append((items[0].series, items))
    current.sort(key=lambda pair: next(e.starts_at for e in pair[1] if not e.has_ended(now)))
    past.sort(key=lambda pair: pair[1][-1].starts_at, reverse=True)
    return current, past


def series_sessions(session: Session, series: Series, *, member: bool,
                    staff: bool = False) -> list[Event]:
    stmt = (sa.select(Event).where(Event.series_id == series.id)
            .options(selectinload(Event.tags)).order_by(Event.starts_at, Event.id))
    return [e for e in session.scalars(stmt) if visible_to(e, member=member, staff=staff)]


@functools.lru_cache(maxsize=4)
def _all_tags(*, member: bool) -> sa.Select:
    stmt = (sa.select(EventTag.tag).join(Event)
            .where(Event.status == Status.PUBLISHED.value, Event.ends_at > NOW)
            .distinct().order_by(EventTag.tag))
    if not member:
        stmt = stmt.where(Event.visibility == Visibility.PUBLIC.value)
    return stmt


def all_tags(session: Session, *, member: bool) -> list[str]:
    return list(rows(session, _all_tags(member=member), {"now": now_utc()}).scalars())


def feed_events(session: Session, *, now: dt.datetime | None = None,
                days_back: int = 30) -> Sequence[Event]:
    """Public events for the calendar feed: upcoming and the last month's (so cancellations
    and changes reach subscribers), never drafts or members-only ones."""
    since = (now or now_utc()) - dt.timedelta(days=days_back)
    stmt = (sa.select(Event)
            .where(Event.status.in_([Status.PUBLISHED.value, Status.CANCELLED.value]),
                   Event.visibility == Visibility.PUBLIC.value, Event.ends_at > since)
            .options(selectinload(Event.tags), selectinload(Event.series))
            .order_by(Event.starts_at, Event.id))
    return session.scalars(stmt).all()


def newly_published(session: Session, *, limit: int = 50) -> Sequence[Event]:
    stmt = (sa.select(Event)
            .where(Event.status.in_([Status.PUBLISHED.value, Status.CANCELLED.value]),
                   Event.visibility == Visibility.PUBLIC.value,
                   Event.published_at.is_not(None))
            .options(selectinload(Event.tags), selectinload(Event.series))
            .order_by(Event.published_at.desc(), Event.id.desc()).limit(limit))
    return session.scalars(stmt).all()


_PLACE_COUNTS = (
    sa.select(Registration.event_id, Registration.status, sa.func.count())
    .where(Registration.event_id.in_(sa.bindparam("ids", expanding=True)),
           Registration.status.in_([RegistrationStatus.REGISTERED.value,
                                    RegistrationStatus.WAITING.value]))
    .group_by(Registration.event_id, Registration.status)
)


def place_counts(session: Session, event_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``{event_id: {"registered": n, "waiting": m}}`` in one query."""
    ids = list(event_ids)
    counts: dict[int, dict[str, int]] = {i: {"registered": 0, "waiting": 0} for i in ids}
    if not ids:
        return counts
    for event_id, status, n in rows(session, _PLACE_COUNTS, {"ids": ids}):
        counts[event_id][status] = n
    return counts


# --- registration ---------------------------------------------------------------------------


def lock_event(session: Session, event: Event) -> None:
    """Serialise registrations for one event until the transaction ends.

    PostgreSQL: ``SELECT … FOR UPDATE`` on the event row. SQLite: a no-op write, which takes
    the database's write lock at once (BEGIN IMMEDIATE semantics), so the count read next
    cannot be overtaken by another writer.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(Event.id).where(Event.id == event.id).with_for_update())
    else:
        table = Event.__table__
        session.execute(
            sa.update(table).where(table.c.id == event.id).values(sequence=table.c.sequence)
        )


def count_registered(session: Session, event_id: int) -> int:
    return session.scalar(
        sa.select(sa.func.count()).select_from(Registration)
        .where(Registration.event_id == event_id,
               Registration.status == RegistrationStatus.REGISTERED.value)
    ) or 0


def registration_problem(event: Event, *, member: bool,
                         now: dt.datetime | None = None) -> str | None:
    """Why this event can't take registrations now, or None."""
    if event.status == Status.CANCELLED:
        return "This event has been cancelled, so it isn't taking registrations."
    if event.status != Status.PUBLISHED:
        return "This event isn't open for registration."
    if event.has_started(now):
        return "This event has already started or taken place, so registration is closed."
    if event.visibility == Visibility.MEMBERS and not member:
        return "This event is for members only: log in to register."
    return None


def register(session: Session, event: Event, *, name: str, email: str, user=None,
             booked_by=None, now: dt.datetime | None = None) -> Registration:
    """A place if one is free, else the end of the waiting list. ``booked_by``: the staff
    member who put them on the list (a booking by phone), who may do so for a members-only
    event (audited).

    :raise RegistrationClosed: cancelled, draft, started or members-only without a login.
    :raise AlreadyRegistered: this email already has a place or is waiting.
    """
    now = now or now_utc()
    problem = registration_problem(event, member=user is not None or booked_by is not None,
                                   now=now)
    if problem:
        raise RegistrationClosed(problem)
    email = normalise_email(email)
    name = " ".join((name or "").split())
    if not email:
        raise EventError("Enter an email address.")
    lock_event(session, event)
    existing = session.scalar(
        sa.select(Registration).where(Registration.event_id == event.id,
                                      Registration.email == email)
        .execution_options(populate_existing=True)
    )
    if existing is not None and existing.status != RegistrationStatus.CANCELLED:
        where = "on the waiting list" if existing.status == RegistrationStatus.WAITING else \
            "registered"
        raise AlreadyRegistered(
            f"You're already {where} for “{event.title}”. Use the link in your "
            "confirmation email to see or cancel it.", existing
        )
    status = RegistrationStatus.WAITING if is_full(session, event) else \
        RegistrationStatus.REGISTERED
    if existing is None:
        registration = Registration(event=event, email=email, name=name, status=status.value,
                                    queued_at=now, created_at=now)
        session.add(registration)
    else:  # registering again after cancelling: back in the queue, with a new link
        registration = existing
        registration.status = status.value
        registration.name = name
        registration.queued_at = now
        registration.cancelled_at = None
        registration.promoted_at = None
        registration.token = new_token()
    registration.user_id = getattr(user, "id", None)
    session.flush()
    if booked_by is not None:
        audit.record(session, "registration.booked", "registration", registration.id,
                     by=booked_by, event_id=event.id, status=registration.status)
    return registration


def is_full(session: Session, event: Event) -> bool:
    """Whether a registration now would go on the waiting list."""
    return event.capacity is not None and count_registered(session, event.id) >= event.capacity


@dataclasses.dataclass
class SeriesResult:
    created: list[Registration]
    skipped: list[tuple[Event, str]]
    #: sessions this email was already registered (or waiting) for
    existing: list[Registration] = dataclasses.field(default_factory=list)


def register_series(session: Session, series: Series, *, name: str, email: str, user=None,
                    now: dt.datetime | None = None) -> SeriesResult:
    """Register for every session still open; closed sessions are listed in ``skipped`` with
    the reason, sessions this email already has in ``existing``.

    :raise RegistrationClosed: when no session could be registered for (nor was already).
    """
    now = now or now_utc()
    member = user is not None
    created, skipped, existing = [], [], []
    sessions = series_sessions(session, series, member=member)
    for event in sorted(sessions, key=lambda e: e.id):  # one lock order: no deadlocks
        if event.has_ended(now):
            continue
        try:
            created.append(register(session, event, name=name, email=email, user=user, now=now))
        except AlreadyRegistered as err:
            existing.append(err.registration)
        except EventError as err:
            skipped.append((event, str(err)))
    if not created and not existing:
        reasons = {reason for _event, reason in skipped}
        if len(reasons) == 1:
            raise RegistrationClosed(reasons.pop())
        raise RegistrationClosed("None of this series' sessions is open for registration.")
    created.sort(key=lambda r: r.event.starts_at)
    existing.sort(key=lambda r: r.event.starts_at)
    return SeriesResult(created, skipped, existing)


def waiting_list(session: Session, event_id: int) -> list[Registration]:
    return list(session.scalars(
        sa.select(Registration)
        .where(Registration.event_id == event_id,
               Registration.status == RegistrationStatus.WAITING.value)
        .order_by(Registration.queued_at, Registration.id)
    ))


def waiting_position(session: Session, registration: Registration) -> int | None:
    """1 for the first in line; ``None`` unless the registration is waiting."""
    if registration.status != RegistrationStatus.WAITING:
        return None
    ahead = session.scalar(
        sa.select(sa.func.count()).select_from(Registration).where(
            Registration.event_id == registration.event_id,
            Registration.status == RegistrationStatus.WAITING.value,
            sa.or_(Registration.queued_at < registration.queued_at,
                   sa.and_(Registration.queued_at == registration.queued_at,
                           Registration.id < registration.id)),
        )
    )
    return int(ahead or 0) + 1


def _fill_places(session: Session, event: Event) -> list[Registration]:
    """Move people up from the waiting list while places are free (the caller holds the
    event lock). Returns them, first in line first. Not once the event has started: a place
    that comes up during it can't be used (QA: someone waiting was told "a place has come up
    and it's yours" for an event already under way)."""
    if event.status != Status.PUBLISHED or event.has_started():
        return []
    waiting = waiting_list(session, event.id)
    if event.capacity is not None:
        free = event.capacity - count_registered(session, event.id)
        waiting = waiting[: max(free, 0)]
    now = now_utc()
    for registration in waiting:
        registration.status = RegistrationStatus.REGISTERED.value
        registration.promoted_at = now
    session.flush()
    return waiting


@dataclasses.dataclass(frozen=True)
class Cancelled:
    """What :func:`cancel_registration` did: what the registration was (``registered`` or
    ``waiting``, read under the event's lock, so a move up a moment before counts) and who
    moved up into the place, so the caller can tell them."""

    was: str
    promoted: list[Registration]


def cancel_registration(session: Session, registration: Registration, *, by=None
                        ) -> Cancelled:
    """Give up a place (or a place in the queue); the first waiting moves up. Audited, with
    ``by`` the staff member who cancelled someone else's (None: the person themselves).

    :raise NotCancellable: already cancelled, the event is over, or the event itself was
        cancelled (everyone on its list was told then; a second email would only confuse).
    """
    event = registration.event
    if registration.status == RegistrationStatus.CANCELLED:
        raise NotCancellable("This registration was already cancelled.")
    if event.has_ended():
        raise NotCancellable("This event has already taken place.")
    lock_event(session, event)
    session.refresh(registration)
    session.refresh(event, ["status"])
    if registration.status == RegistrationStatus.CANCELLED:
        raise NotCancellable("This registration was already cancelled.")
    if event.is_cancelled:  # read holding the lock: cancelled just now counts too
        raise NotCancellable("The event itself has been cancelled, and everyone registered "
                             "or waiting was told: there is no place to give up.")
    was = registration.status
    registration.status = RegistrationStatus.CANCELLED.value
    registration.cancelled_at = now_utc()
    session.flush()
    audit.record(session, "registration.cancelled", "registration", registration.id, by=by,
                 event_id=event.id, was=was)
    return Cancelled(was, _fill_places(session, event))


def by_token(session: Session, token: str) -> Registration | None:
    if not token or len(token) > 64:
        return None
    return session.scalar(sa.select(Registration).where(Registration.token == token))


def set_attendance(session: Session, registration: Registration, attended: bool | None,
                   *, by=None) -> Registration:
    if registration.status != RegistrationStatus.REGISTERED:
        raise EventError("Only people with a place can be marked as attending.")
    if not registration.event.attendance_open():
        raise EventError("Attendance can be marked from the day of the event.")
    registration.attended = attended
    session.flush()
    audit.record(session, "event_registration.attendance", "event_registration",
                 registration.id, by=by, attended=attended)
    return registration


def registrations_for(session: Session, event: Event,
                      statuses: Sequence[RegistrationStatus]) -> list[Registration]:
    return list(session.scalars(
        sa.select(Registration)
        .where(Registration.event_id == event.id,
               Registration.status.in_([s.value for s in statuses]))
        .order_by(Registration.status, Registration.queued_at, Registration.id)
    ))


def record_message(session: Session, event: Event, *, subject: str, body: str, recipients: int,
                   failures: int, by=None, audience: str = AUDIENCE_PLACES) -> EventMessage:
    message = EventMessage(event_id=event.id, subject=subject, body=body, recipients=recipients,
                           failures=failures, sent_by_id=getattr(by, "id", by),
                           audience=audience)
    session.add(message)
    session.flush()
    audit.record(session, "event.messaged", "event", event.id, by=by, recipients=recipients,
                 failures=failures, audience=audience)
    return message


def message_recipients(session: Session, event: Event, audience: str) -> list[Registration]:
    """Who a staff message goes to: the people with a place, then (for ``waiting`` or
    ``both``) the waiting list in its order."""
    places = (registrations_for(session, event, [RegistrationStatus.REGISTERED])
              if audience in (AUDIENCE_PLACES, AUDIENCE_BOTH) else [])
    waiting = (waiting_list(session, event.id)
               if audience in (AUDIENCE_WAITING, AUDIENCE_BOTH) else [])
    return [*places, *waiting]


# --- a member's data ------------------------------------------------------------------------


def member_registrations(session: Session, user) -> list[Registration]:
    return list(session.scalars(
        sa.select(Registration).join(Event)
        .where(sa.or_(Registration.user_id == user.id,
                      Registration.email == normalise_email(user.email)))
        .options(selectinload(Registration.event))
        .order_by(Event.starts_at.desc())
    ))


def follow_account_email(session: Session, old: str, new: str, *, user_id: int | None) -> int:
    """A member (account ``user_id``) confirmed a new email: their registrations follow it,
    so a change of time, a place coming free or a reminder reaches them there. Those made
    with the old address without logging in move too; one tied to another account stays,
    as does one for an event the new address is already registered for. How many moved.

    Each one that moves gets a new token, as a newsletter subscription does, so the links
    already sent to the old mailbox (which may not be the member's any more) stop working;
    the member manages their places from their account. Mail about it still waiting to go to
    the old address is dropped (its links are dead, and the joining link in it is no longer
    that mailbox's business). At a shared address (a household) one made without logging in
    may be someone else's: the address is the only sign of whose it is, so it moves with the
    member, who can see and cancel it on their account page. A registration for the new address
    committed by someone else at this very moment makes the flush fail on the unique
    constraint: the caller rolls back and tries again, and then leaves that place alone."""
    old, new = normalise_email(old), normalise_email(new)
    if not old or not new or old == new:
        return 0
    taken = sa.select(Registration.event_id).where(Registration.email == new)
    mine = Registration.user_id.is_(None) if user_id is None else sa.or_(
        Registration.user_id.is_(None), Registration.user_id == user_id)
    moving = session.scalars(
        sa.select(Registration)
        .where(Registration.email == old, mine, Registration.event_id.not_in(taken))
        .order_by(Registration.id)).all()
    for registration in moving:
        registration.email = new
        registration.token = new_token()
        outbox.drop_undelivered(session, f"registration:{registration.id}", to=old)
    session.flush()
    return len(moving)


def export_data(session: Session, user) -> list[dict]:
    return [
        {
            "event": r.event.title,
            "starts_at": r.event.starts_at.isoformat(),
            "name": r.name,
            "email": r.email,
            "status": r.status,
            "registered_at": r.created_at.isoformat(),
            "attended": r.attended,
        }
        for r in member_registrations(session, user)
    ]


def erase_member(session: Session, user) -> list[Registration]:
    """Cancel a deleted member's future places and strip names and emails from all of them.

    Returns people moved up from waiting lists."""
    promoted: list[Registration] = []
    for registration in member_registrations(session, user):
        # a cancelled event's list stays as it was when everyone was told (its places
        # can't be given up, and nobody moves up to a place at it)
        if (registration.status != RegistrationStatus.CANCELLED
                and not registration.event.has_ended()
                and not registration.event.is_cancelled):
            # the event cancelled (or ended) just now, as this waited for its lock: as above
            with contextlib.suppress(NotCancellable):
                promoted += cancel_registration(session, registration).promoted
        registration.name = "Deleted member"
        registration.email = f"deleted-{registration.id}@invalid"
        registration.user_id = None
        registration.token = new_token()
    session.flush()
    return promoted
