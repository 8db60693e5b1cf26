"""The figure rules as pure functions: no database, no Flask."""

from __future__ import annotations

import datetime as dt

import pytest

from coop.formatting import LONDON
from coop.fund import figures as f
from coop.fund.figures import CampaignFigures

NOV1, NOV30 = dt.date(2022, 11, 1), dt.date(2022, 11, 30)


def london(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LONDON)


@pytest.mark.parametrize("raised,target,expected", [
    (657_200, 1_800_000, 36.5),
    (1_799_900, 1_800_000, 99.9),  # £17,999 of £18,000: never 100.0 before it's met
    (1_799_999, 1_800_000, 99.9),
    (1_800_000, 1_800_000, 100.0),
    (1_840_650, 1_800_000, 102.2),  # the real figure above 100
    (0, 1_800_000, 0.0),
    (1, 1_800_000, 0.0),
    (2_999, 3_000, 99.9),
])
def test_percent_rounds_down_to_one_decimal(raised, target, expected):
    assert f.percent(raised, target) == expected


def test_bar_fills_at_most_100_and_text_drops_point_zero():
    assert f.bar_percent(1_840_650, 1_800_000) == 100.0
    assert f.format_percent(657_200, 1_800_000) == "36.5%"
    assert f.format_percent(1_800_000, 1_800_000) == "100%"
    assert f.format_percent(1_799_900, 1_800_000) == "99.9%"


def test_remaining_never_negative_and_target_met():
    assert f.remaining(657_200, 1_800_000) == 1_142_800
    assert f.remaining(1_900_000, 1_800_000) == 0
    assert not f.target_met(1_799_999, 1_800_000)
    assert f.target_met(1_800_000, 1_800_000)


@pytest.mark.parametrize("today,days", [
    (dt.date(2022, 11, 13), 17),
    (dt.date(2022, 11, 29), 1),
    (NOV30, 0),
    (dt.date(2022, 12, 5), 0),
    (dt.date(2022, 10, 20), 41),
])
def test_days_remaining(today, days):
    assert f.days_remaining(NOV30, today) == days


@pytest.mark.parametrize("today,closed,expected", [
    (dt.date(2022, 10, 31), False, "upcoming"),
    (NOV1, False, "open"),
    (NOV30, False, "open"),
    (dt.date(2022, 12, 1), False, "closed"),
    (dt.date(2022, 11, 15), True, "closed"),
])
def test_status(today, closed, expected):
    assert f.status(NOV1, NOV30, today, closed=closed) == expected


def _countdown(now, raised=657_200, target=1_800_000, closed=False):
    return f.countdown_text(opens_on=NOV1, deadline=NOV30, now=now, raised_pence=raised,
                            target_pence=target, closed=closed)


@pytest.mark.parametrize("now,text", [
    (london(2022, 11, 13, 9, 0), "17 days remaining"),
    (london(2022, 11, 29, 23, 59), "1 day remaining"),
    (london(2022, 11, 30, 19, 0), "Last day — 5 hours left"),
    (london(2022, 11, 30, 19, 0, 1), "Last day — 5 hours left"),
    (london(2022, 11, 30, 0, 0), "Last day — 24 hours left"),
    (london(2022, 11, 30, 23, 30), "Last day — less than an hour left"),
    (london(2022, 12, 1, 0, 0), "Fund closed: raised £6,572 of £18,000"),
    (london(2022, 10, 31, 12, 0), "Opens on Tuesday 1 November 2022"),
])
def test_countdown_text(now, text):
    assert _countdown(now) == text


def test_days_follow_london_not_utc():
    # 23:30 UTC on 29 Nov is still 29 Nov in London (GMT) …
    assert _countdown(dt.datetime(2022, 11, 29, 23, 30, tzinfo=dt.UTC)) == "1 day remaining"
    # … but in summer 23:30 UTC is already the next day in London (BST).
    summer = f.countdown_text(opens_on=dt.date(2023, 6, 1), deadline=dt.date(2023, 6, 30),
                              now=dt.datetime(2023, 6, 29, 23, 30, tzinfo=dt.UTC),
                              raised_pence=1, target_pence=2)
    assert summer == "Last day — 24 hours left"
    # 19:00 BST on the deadline is 18:00 UTC: five hours to London's midnight.
    last = f.countdown_text(opens_on=dt.date(2023, 6, 1), deadline=dt.date(2023, 6, 30),
                            now=dt.datetime(2023, 6, 30, 18, 0, tzinfo=dt.UTC),
                            raised_pence=1, target_pence=2)
    assert last == "Last day — 5 hours left"


def test_closed_by_staff_before_the_deadline():
    assert _countdown(london(2022, 11, 20, 12), closed=True) == (
        "Fund closed: raised £6,572 of £18,000")


@pytest.mark.parametrize("raised,text", [
    (657_200, "We need £11,428"),
    (1_800_000, "Target reached"),
    (1_840_650, "Target reached — £406.50 over"),
])
def test_target_text(raised, text):
    assert f.target_text(raised, 1_800_000) == text


def test_expected_by_today_is_a_steady_pace():
    assert f.expected_by(3_000_000, NOV1, NOV30, NOV1) == 100_000
    assert f.expected_by(3_000_000, NOV1, NOV30, dt.date(2022, 11, 15)) == 1_500_000
    assert f.expected_by(3_000_000, NOV1, NOV30, NOV30) == 3_000_000
    assert f.expected_by(3_000_000, NOV1, NOV30, dt.date(2022, 10, 1)) == 0
    assert f.expected_by(3_000_000, NOV1, NOV30, dt.date(2023, 1, 1)) == 3_000_000


def _figures(**changes) -> CampaignFigures:
    values = dict(id=7, slug="2022-11", name="November 2022 fighting fund",
                  target_pence=1_800_000, opens_on=NOV1, deadline=NOV30,
                  donate_url="https://example.org", thank_you_text="", raised_pence=657_200,
                  entry_count=42, updated_at=dt.datetime(2022, 11, 13, 9, 30, tzinfo=dt.UTC),
                  closed_at=None)
    values.update(changes)
    return CampaignFigures(**values)


def test_json_has_exactly_the_documented_fields():
    from coop.fund.api import figures_json

    data = figures_json(_figures(), london(2022, 11, 13, 12))
    assert data == {
        "slug": "2022-11", "name": "November 2022 fighting fund", "currency": "GBP",
        "raised_pence": 657_200, "target_pence": 1_800_000, "remaining_pence": 1_142_800,
        "percent": 36.5, "days_remaining": 17, "opens_on": "2022-11-01",
        "deadline": "2022-11-30", "status": "open", "target_met": False,
        "updated_at": "2022-11-13T09:30:00Z",
    }
    closed = figures_json(_figures(), london(2022, 12, 2, 12))
    assert (closed["status"], closed["days_remaining"]) == ("closed", 0)


def test_etag_key_changes_with_entries_edits_days_and_last_day_hours():
    now = london(2022, 11, 13, 12)
    base = _figures().etag_key(now)
    assert _figures(entry_count=43).etag_key(now) != base
    assert _figures(updated_at=dt.datetime(2022, 11, 13, 9, 31, tzinfo=dt.UTC)).etag_key(now) \
        != base
    assert _figures().etag_key(london(2022, 11, 14, 12)) != base
    assert _figures().etag_key(london(2022, 11, 13, 18)) == base
    last_day = _figures()
    assert last_day.etag_key(london(2022, 11, 30, 18)) != last_day.etag_key(
        london(2022, 11, 30, 19))


@pytest.mark.parametrize("raised,text", [
    (657_200, "Target not met: £11,428 short"),
    (1_800_000, "Target met"),
    (1_840_650, "Target met: £406.50 over"),
])
def test_target_text_once_the_fund_is_over(raised, text):
    assert f.target_text(raised, 1_800_000, closed=True) == text
