"""The fund's public figures as pure functions of values and a "now": no database, no Flask.

Every page, the widget, the badge, the JSON API and the printed paragraph use these, so the
paper and the site always agree.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from coop.formatting import london_date, money
from coop.timeutil import LONDON, london_today

UPCOMING = "upcoming"
OPEN = "open"
CLOSED = "closed"


def remaining(raised_pence: int, target_pence: int) -> int:
    """What is still needed: never below zero."""
    return max(target_pence - raised_pence, 0)


def percent_tenths(raised_pence: int, target_pence: int) -> int:
    """Tenths of a percent, rounded down: £17,999 of £18,000 → 999 (99.9%), never 1000."""
    if target_pence <= 0:
        raise ValueError("target must be positive")
    if raised_pence <= 0:
        return 0
    return raised_pence * 1000 // target_pence


def percent(raised_pence: int, target_pence: int) -> float:
    """raised / target × 100, rounded *down* to one decimal: 6,572 of 18,000 → 36.5."""
    return percent_tenths(raised_pence, target_pence) / 10


def bar_percent(raised_pence: int, target_pence: int) -> float:
    """How full the bar is drawn: the percentage, but no more than 100."""
    return min(percent(raised_pence, target_pence), 100.0)


def format_percent(raised_pence: int, target_pence: int) -> str:
    """``36.5%``; whole numbers without ``.0``: ``100%``."""
    tenths = percent_tenths(raised_pence, target_pence)
    if tenths % 10 == 0:
        return f"{tenths // 10:,}%"
    return f"{tenths // 10:,}.{tenths % 10}%"


def status(opens_on: dt.date, deadline: dt.date, today: dt.date, *, closed: bool = False) -> str:
    """``upcoming`` before the opening day, ``closed`` after the deadline or once staff
    closed it, else ``open``."""
    if closed or today > deadline:
        return CLOSED
    if today < opens_on:
        return UPCOMING
    return OPEN


def days_remaining(deadline: dt.date, today: dt.date) -> int:
    """Whole days from today to the deadline: 17 on 13 Nov for 30 Nov, 0 on the day and after."""
    return max((deadline - today).days, 0)


def target_met(raised_pence: int, target_pence: int) -> bool:
    return raised_pence >= target_pence


def hours_left(deadline: dt.date, now: dt.datetime) -> int:
    """Hours (rounded up) until midnight in London at the end of ``deadline``."""
    end = dt.datetime.combine(deadline + dt.timedelta(days=1), dt.time(0), tzinfo=LONDON)
    seconds = (end - now).total_seconds()
    return max(math.ceil(seconds / 3600), 0)


def countdown_text(
    *,
    opens_on: dt.date,
    deadline: dt.date,
    now: dt.datetime,
    raised_pence: int,
    target_pence: int,
    closed: bool = False,
) -> str:
    """The time line a reader sees: "17 days remaining", "1 day remaining",
    "Last day — 5 hours left", "Fund closed: raised £X of £Y" or "Opens on …"."""
    today = london_today(now)
    state = status(opens_on, deadline, today, closed=closed)
    if state == CLOSED:
        return f"Fund closed: raised {money(raised_pence)} of {money(target_pence)}"
    if state == UPCOMING:
        return f"Opens on {london_date(opens_on)}"
    days = days_remaining(deadline, today)
    if days == 0:
        hours = hours_left(deadline, now)
        if hours <= 1:
            return "Last day — less than an hour left"
        return f"Last day — {hours} hours left"
    if days == 1:
        return "1 day remaining"
    return f"{days} days remaining"


def target_text(raised_pence: int, target_pence: int, *, closed: bool = False) -> str:
    """Every met / over / short wording on the site's pages, in one place (the paragraph for
    the printed paper, :func:`coop.fund.services.daily_report`, is prose of its own).

    While the fund runs: "We need £11,428", or once met "Target reached — £X over" (the real
    total stays shown). Once it is over (``closed``): "Target met", "Target met: £X over" or
    "Target not met: £X short".
    """
    if closed:
        if raised_pence < target_pence:
            return f"Target not met: {money(remaining(raised_pence, target_pence))} short"
        if raised_pence == target_pence:
            return "Target met"
        return f"Target met: {money(raised_pence - target_pence)} over"
    if raised_pence >= target_pence:
        over = raised_pence - target_pence
        if over == 0:
            return "Target reached"
        return f"Target reached — {money(over)} over"
    return f"We need {money(remaining(raised_pence, target_pence))}"


def expected_by(target_pence: int, opens_on: dt.date, deadline: dt.date, day: dt.date) -> int:
    """The pace line: what a steady pace would have raised by the end of ``day``."""
    total_days = (deadline - opens_on).days + 1
    elapsed = min(max((day - opens_on).days + 1, 0), total_days)
    return target_pence * elapsed // total_days


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    """A campaign's stored values: what the cache keeps and every public view starts from."""

    id: int
    slug: str
    name: str
    target_pence: int
    opens_on: dt.date
    deadline: dt.date
    donate_url: str
    thank_you_text: str
    raised_pence: int
    entry_count: int
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    #: goes up with each decision about a name waiting to be thanked
    thanks_version: int = 0

    @property
    def version(self) -> str:
        """Changes with every entry, every edit of the campaign and every name decided."""
        stamp = int(self.updated_at.timestamp() * 1_000_000)
        return f"{self.id}-{self.entry_count}-{stamp}-{self.thanks_version}"

    def status(self, now: dt.datetime) -> str:
        return status(self.opens_on, self.deadline, london_today(now),
                      closed=self.closed_at is not None)

    def days_remaining(self, now: dt.datetime) -> int:
        if self.status(now) == CLOSED:
            return 0
        return days_remaining(self.deadline, london_today(now))

    @property
    def remaining_pence(self) -> int:
        return remaining(self.raised_pence, self.target_pence)

    @property
    def percent(self) -> float:
        return percent(self.raised_pence, self.target_pence)

    @property
    def percent_text(self) -> str:
        return format_percent(self.raised_pence, self.target_pence)

    @property
    def bar_percent(self) -> float:
        return bar_percent(self.raised_pence, self.target_pence)

    @property
    def target_met(self) -> bool:
        return target_met(self.raised_pence, self.target_pence)

    @property
    def target_text(self) -> str:
        return target_text(self.raised_pence, self.target_pence)

    @property
    def result_text(self) -> str:
        """The met / over / short line of a campaign that is over."""
        return target_text(self.raised_pence, self.target_pence, closed=True)

    def countdown(self, now: dt.datetime) -> str:
        return countdown_text(
            opens_on=self.opens_on, deadline=self.deadline, now=now,
            raised_pence=self.raised_pence, target_pence=self.target_pence,
            closed=self.closed_at is not None,
        )

    def expected_pence(self, now: dt.datetime) -> int:
        return expected_by(self.target_pence, self.opens_on, self.deadline, london_today(now))

    def etag_key(self, now: dt.datetime) -> str:
        """The ETag's value: the version, plus what changes with the clock (the day, and on
        the last day the hour) so a cached copy never shows yesterday's countdown."""
        key = f"{self.version}-{london_today(now).isoformat()}"
        if self.status(now) == OPEN and self.days_remaining(now) == 0:
            key += f"-h{hours_left(self.deadline, now)}"
        return key

