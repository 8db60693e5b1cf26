"""Event rules without HTTP: London times, series dates, registration, queues and data."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from coop.db import now_utc
from coop.events import services
from coop.events.models import Event, Registration, Series
from tests.events.conftest import future

UTC = dt.UTC


# --- London time ---------------------------------------------------------------------------

def test_seven_pm_either_side_of_the_clock_change():
    assert services.london_to_utc(dt.date(2022, 10, 20), dt.time(19)) == \
        dt.datetime(2022, 10, 20, 18, 0, tzinfo=UTC)
    assert services.london_to_utc(dt.date(2022, 11, 3), dt.time(19)) == \
        dt.datetime(2022, 11, 3, 19, 0, tzinfo=UTC)


def test_time_in_the_spring_forward_gap_is_refused():
    with pytest.raises(services.TimeError, match="doesn't exist in London"):
        services.london_to_utc(dt.date(2022, 3, 27), dt.time(1, 30))
    # either side of the gap is fine
    assert services.london_to_utc(dt.date(2022, 3, 27), dt.time(0, 59)).hour == 0
    assert services.london_to_utc(dt.date(2022, 3, 27), dt.time(2, 0)) == \
        dt.datetime(2022, 3, 27, 1, 0, tzinfo=UTC)


def test_a_time_in_the_autumns_repeated_hour_is_refused():
    """01:30 happens twice on 30 October 2022 (00:30Z in BST, then 01:30Z in GMT): which one
    staff meant can't be told (QA: 01:30-02:15 became 1 hour 45)."""
    for time in (dt.time(1, 0), dt.time(1, 30), dt.time(1, 59), dt.time(1, 30, fold=1)):
        with pytest.raises(services.TimeError, match="happens twice in London"):
            services.london_to_utc(dt.date(2022, 10, 30), time)
    # either side of the repeated hour is fine
    assert services.london_to_utc(dt.date(2022, 10, 30), dt.time(0, 59)) == \
        dt.datetime(2022, 10, 29, 23, 59, tzinfo=UTC)
    assert services.london_to_utc(dt.date(2022, 10, 30), dt.time(2, 0)) == \
        dt.datetime(2022, 10, 30, 2, 0, tzinfo=UTC)


# --- series dates --------------------------------------------------------------------------

def test_weekly_series_dates():
    assert services.series_dates(dt.date(2022, 11, 9), "weekly", 3) == [
        dt.date(2022, 11, 9), dt.date(2022, 11, 16), dt.date(2022, 11, 23)]


def test_fortnightly_series_dates():
    assert services.series_dates(dt.date(2022, 11, 9), "fortnightly", 3) == [
        dt.date(2022, 11, 9), dt.date(2022, 11, 23), dt.date(2022, 12, 7)]


def test_monthly_by_weekday_keeps_the_second_wednesday():
    dates = services.series_dates(dt.date(2022, 11, 9), "monthly", 4)
    assert dates == [dt.date(2022, 11, 9), dt.date(2022, 12, 14), dt.date(2023, 1, 11),
                     dt.date(2023, 2, 8)]
    assert all(d.weekday() == 2 and 8 <= d.day <= 14 for d in dates)


def test_monthly_from_a_fifth_weekday_means_the_last_one():
    dates = services.series_dates(dt.date(2022, 11, 30), "monthly", 3)  # 5th Wednesday
    assert dates == [dt.date(2022, 11, 30), dt.date(2022, 12, 28), dt.date(2023, 1, 25)]


def test_monthly_series_crosses_the_year():
    dates = services.series_dates(dt.date(2022, 12, 1), "monthly", 13)  # first Thursday
    assert dates[-1] == dt.date(2023, 12, 7)


@pytest.mark.parametrize("count", [0, 53, -1])
def test_series_count_outside_1_to_52_is_refused(count):
    with pytest.raises(services.EventError):
        services.series_dates(dt.date(2022, 11, 9), "weekly", count)


def test_fifty_two_sessions_is_allowed():
    assert len(services.series_dates(dt.date(2022, 11, 9), "weekly", 52)) == 52


# --- creating and editing ------------------------------------------------------------------

def details(**kw):
    kw.setdefault("title", "A talk")
    kw.setdefault("status", "published")
    return services.EventDetails(**kw)


def test_create_series_makes_each_session_at_seven_london_time(db):
    series = services.create_series(
        db.session, title="Science for the Future", summary="", description="",
        first_date=dt.date(2022, 10, 20), start_time=dt.time(19), duration=dt.timedelta(90),
        repeat="fortnightly", count=2, details=details(title=""))
    db.session.commit()
    events = db.session.scalars(sa.select(Event).where(Event.series_id == series.id)
                                .order_by(Event.starts_at)).all()
    assert [e.starts_at for e in events] == [dt.datetime(2022, 10, 20, 18, tzinfo=UTC),
                                             dt.datetime(2022, 11, 3, 19, tzinfo=UTC)]
    assert [e.title for e in events] == ["Science for the Future: session 1 of 2",
                                         "Science for the Future: session 2 of 2"]
    assert series.slug == "science-for-the-future"
    assert len({e.slug for e in events}) == 2


def test_series_over_the_spring_gap_is_refused_and_nothing_saved(db):
    with pytest.raises(services.TimeError):
        services.create_series(
            db.session, title="Night owls", summary="", description="",
            first_date=dt.date(2022, 3, 13), start_time=dt.time(1, 30),
            duration=dt.timedelta(hours=1), repeat="weekly", count=3, details=details())
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Series)) == 0


def test_slugs_are_unique_and_reserved_words_avoided(db):
    first = services.create_event(db.session, details(title="Past"), future(), future(11))
    second = services.create_event(db.session, details(title="Past"), future(), future(11))
    assert first.slug == "past-event" and second.slug == "past-event-2"
    with pytest.raises(services.SlugTaken):
        services.create_event(db.session, details(), future(), future(11), slug="past-event")


def test_end_before_start_is_refused(db):
    with pytest.raises(services.EventError, match="end must be after"):
        services.create_event(db.session, details(), future(2), future(1))


def test_edit_bumps_sequence_only_when_something_changed(db):
    event = services.create_event(db.session, details(tags=["a"]), future(), future(11))
    assert event.sequence == 0
    services.update_event(db.session, event, details(tags=["a"]), event.starts_at,
                          event.ends_at)
    assert event.sequence == 0
    services.update_event(db.session, event, details(title="A new title", tags=["a"]),
                          event.starts_at, event.ends_at)
    assert event.sequence == 1
    services.update_event(db.session, event, details(title="A new title", tags=["a"]),
                          event.starts_at + dt.timedelta(hours=1),
                          event.ends_at + dt.timedelta(hours=1))
    assert event.sequence == 2
    services.cancel_event(db.session, event)
    assert event.sequence == 3 and event.status == "cancelled"


def test_draft_gets_published_at_when_published(db):
    event = services.create_event(db.session, details(status="draft"), future(), future(11))
    assert event.published_at is None
    services.update_event(db.session, event, details(), event.starts_at, event.ends_at)
    assert event.published_at is not None


# --- registration --------------------------------------------------------------------------

def register(db, event, n, **kw):
    return services.register(db.session, event, name=f"Person {n}",
                             email=f"p{n}@example.org", **kw)


def test_capacity_then_ordered_waiting_list_and_promotion(db):
    event = services.create_event(db.session, details(capacity=2), future(), future(11))
    regs = [register(db, event, n) for n in range(5)]
    assert [r.status for r in regs] == ["registered", "registered", "waiting", "waiting",
                                        "waiting"]
    cancelled = services.cancel_registration(db.session, regs[0])
    assert cancelled == services.Cancelled("registered", [regs[2]])
    assert regs[2].status == "registered" and regs[2].promoted_at is not None
    assert regs[0].status == "cancelled"
    # a waiting person cancelling promotes nobody and keeps the order
    assert services.cancel_registration(db.session, regs[3]) == services.Cancelled("waiting", [])
    assert [r.id for r in services.waiting_list(db.session, event.id)] == [regs[4].id]
    assert services.count_registered(db.session, event.id) == 2


def test_a_place_given_up_once_the_event_has_started_goes_to_nobody(db):
    """QA: a place given up ten minutes into an event went to the first waiting, who was
    emailed "a place has come up and it's yours" for an event already under way."""
    event = services.create_event(db.session, details(capacity=1), future(), future(11))
    first, second = register(db, event, 1), register(db, event, 2)
    event.starts_at = now_utc() - dt.timedelta(minutes=10)  # under way
    db.session.flush()
    assert services.cancel_registration(db.session, first) == services.Cancelled("registered",
                                                                                 [])
    assert second.status == "waiting" and second.promoted_at is None


def test_registering_twice_with_one_email_is_refused(db):
    event = services.create_event(db.session, details(), future(), future(11))
    services.register(db.session, event, name="Ann", email="Ann@Example.org")
    with pytest.raises(services.AlreadyRegistered, match="already registered"):
        services.register(db.session, event, name="Ann", email=" ann@example.ORG ")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registration)) == 1


def test_the_unique_constraint_holds_even_without_the_check(db):
    event = services.create_event(db.session, details(), future(), future(11))
    db.session.add_all([Registration(event=event, name="A", email="a@example.org",
                                     status="registered"),
                        Registration(event=event, name="B", email="a@example.org",
                                     status="registered")])
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()


def test_registering_again_after_cancelling_goes_to_the_back_with_a_new_token(db):
    event = services.create_event(db.session, details(capacity=1), future(), future(11))
    first = register(db, event, 1)
    old_token = first.token
    register(db, event, 2)  # waiting
    services.cancel_registration(db.session, first)  # 2 moves up
    again = register(db, event, 1)
    assert again.id == first.id and again.status == "waiting" and again.token != old_token


@pytest.mark.parametrize("change, message", [
    ({"status": "cancelled"}, "cancelled"),
    ({"status": "draft"}, "isn't open"),
    ({"visibility": "members"}, "members only"),
])
def test_closed_events_refuse_registration(db, change, message):
    event = services.create_event(db.session, details(**change), future(), future(11))
    with pytest.raises(services.RegistrationClosed, match=message):
        register(db, event, 1)


def test_past_event_refuses_registration(db):
    start = dt.datetime.now(UTC) - dt.timedelta(days=2)
    event = services.create_event(db.session, details(), start, start + dt.timedelta(hours=1))
    with pytest.raises(services.RegistrationClosed, match="already started or taken place"):
        register(db, event, 1)


def test_members_only_event_takes_a_member(db, make_user):
    user = make_user()
    event = services.create_event(db.session, details(visibility="members"), future(),
                                  future(11))
    reg = services.register(db.session, event, name="M", email=user.email, user=user)
    assert reg.user_id == user.id


def test_raising_capacity_promotes_the_waiting_and_lowering_below_taken_is_refused(db):
    event = services.create_event(db.session, details(capacity=1), future(), future(11))
    regs = [register(db, event, n) for n in range(3)]
    promoted = services.update_event(db.session, event, details(capacity=2), event.starts_at,
                                     event.ends_at)
    assert [r.id for r in promoted] == [regs[1].id]
    with pytest.raises(services.CapacityError, match="can't go below"):
        services.update_event(db.session, event, details(capacity=1), event.starts_at,
                              event.ends_at)
    promoted = services.update_event(db.session, event, details(capacity=None),
                                     event.starts_at, event.ends_at)
    assert [r.id for r in promoted] == [regs[2].id]


def test_register_for_a_whole_series(db):
    series = services.create_series(
        db.session, title="Three talks", summary="", description="",
        first_date=dt.date.today() + dt.timedelta(days=3), start_time=dt.time(19),
        duration=dt.timedelta(hours=1), repeat="weekly", count=3,
        details=details(capacity=1))
    events = sorted(series.events, key=lambda e: e.starts_at)
    register(db, events[1], 9)  # the second session is already full
    services.cancel_event(db.session, events[2])
    result = services.register_series(db.session, series, name="Zoë", email="zoe@example.org")
    assert [(r.event_id, r.status) for r in result.created] == [
        (events[0].id, "registered"), (events[1].id, "waiting")]
    assert [e.id for e, _reason in result.skipped] == [events[2].id]
    # again: the open sessions are already this address's, the third is closed
    again = services.register_series(db.session, series, name="Zoë", email="zoe@example.org")
    assert again.created == []
    assert [r.id for r in again.existing] == [r.id for r in result.created]
    assert [e.id for e, _reason in again.skipped] == [events[2].id]



def test_cancelling_twice_is_refused(db):
    event = services.create_event(db.session, details(), future(), future(11))
    reg = register(db, event, 1)
    services.cancel_registration(db.session, reg)
    with pytest.raises(services.NotCancellable):
        services.cancel_registration(db.session, reg)


def test_attendance_only_for_people_with_a_place(db):
    event = services.create_event(db.session, details(capacity=1), future(), future(11))
    first, second = register(db, event, 1), register(db, event, 2)
    with pytest.raises(services.EventError, match="from the day of the event"):
        services.set_attendance(db.session, first, True)  # ten days ahead
    event.starts_at, event.ends_at = now_utc() - dt.timedelta(minutes=5), future(11)
    services.set_attendance(db.session, first, True)
    assert first.attended is True
    with pytest.raises(services.EventError, match="Only people with a place"):
        services.set_attendance(db.session, second, True)


# --- a member's data -----------------------------------------------------------------------

def test_export_and_erase_a_members_registrations(db, make_user):
    user = make_user(email="kim@example.org")
    event = services.create_event(db.session, details(capacity=1), future(), future(11))
    mine = services.register(db.session, event, name="Kim", email="KIM@example.org")
    other = register(db, event, 2)
    data = services.export_data(db.session, user)
    assert data[0]["email"] == "kim@example.org" and data[0]["status"] == "registered"
    promoted = services.erase_member(db.session, user)
    assert promoted == [other]
    assert mine.status == "cancelled" and mine.email.endswith("@invalid")
    assert mine.name == "Deleted member"
    assert services.export_data(db.session, user) == []


def test_erasing_a_member_with_a_place_at_a_cancelled_event(db, make_user):
    """Review: a place at a cancelled event can't be given up, and erasing the member tried to
    (a 500 on "Delete my account", and the account stayed). The list stays as everyone was told
    it; the member's name and address still go, and nobody moves up to a cancelled event."""
    user = make_user(email="kim@example.org")
    event = services.create_event(db.session, details(capacity=1), future(), future(11))
    mine = services.register(db.session, event, name="Kim", email="kim@example.org")
    other = register(db, event, 2)
    services.cancel_event(db.session, event)
    assert services.erase_member(db.session, user) == []
    assert mine.status == "registered" and other.status == "waiting"
    assert mine.email.endswith("@invalid") and mine.name == "Deleted member"
    assert services.export_data(db.session, user) == []


def test_an_events_length_is_counted_in_utc_and_rounded_up():
    """seconds_between: an evening-to-evening event over the night the clocks go back lasts
    25 hours, though both ends are given in London's time; part of a second counts whole."""
    from zoneinfo import ZoneInfo

    from coop.events.models import seconds_between

    london = ZoneInfo("Europe/London")
    starts = dt.datetime(2026, 10, 24, 19, tzinfo=london)
    assert seconds_between(starts, dt.datetime(2026, 10, 25, 19, tzinfo=london)) == 25 * 3600
    assert seconds_between(starts, starts + dt.timedelta(microseconds=1)) == 1


def test_the_length_follows_the_times_however_they_are_set(app):
    """Event._keep_duration: set in the constructor, either time alone, or both."""
    starts = dt.datetime(2026, 5, 1, 18, tzinfo=dt.UTC)
    event = Event(starts_at=starts, ends_at=starts + dt.timedelta(hours=2))
    assert event.duration_seconds == 7200
    event.ends_at = starts + dt.timedelta(hours=3)
    assert event.duration_seconds == 3 * 3600
    event.starts_at = starts + dt.timedelta(hours=1)
    assert event.duration_seconds == 2 * 3600
