"""The daily-tally chart and the bar, as numbers a template turns into SVG (no JavaScript)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from coop.fund.figures import CampaignFigures, expected_by

#: the chart's drawing area inside its viewBox
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36


@dataclass(frozen=True)
class TallyRow:
    day: dt.date
    received_pence: int
    total_pence: int
    expected_pence: int


@dataclass(frozen=True)
class Chart:
    rows: list[TallyRow]
    raised_points: str
    pace_points: str
    target_y: float
    y_labels: list[tuple[float, int]] = field(default_factory=list)
    x_labels: list[tuple[float, dt.date]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    bottom_edge: int = HEIGHT - BOTTOM
    top: int = TOP


def tally_rows(fig: CampaignFigures, daily: list[tuple[dt.date, int, int]],
               today: dt.date) -> list[TallyRow]:
    """One row per day from the opening day to today (or the deadline, if earlier)."""
    by_day = {day: pence for day, pence, _count in daily}
    last = min(today, fig.deadline)
    # Entries dated before "today" on a clock that's behind must still be counted.
    if daily:
        last = max(last, min(daily[-1][0], fig.deadline))
    rows: list[TallyRow] = []
    total = 0
    day = fig.opens_on
    while day <= last:
        received = by_day.get(day, 0)
        total += received
        rows.append(TallyRow(day, received, total,
                             expected_by(fig.target_pence, fig.opens_on, fig.deadline, day)))
        day += dt.timedelta(days=1)
    return rows


def build_chart(fig: CampaignFigures, rows: list[TallyRow]) -> Chart:
    days = (fig.deadline - fig.opens_on).days + 1
    top_value = max(fig.target_pence, max((r.total_pence for r in rows), default=0))
    top_value = int(top_value * 1.08) or 1
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x(day_index: float) -> float:
        return round(LEFT + plot_w * day_index / days, 1)

    def y(pence: int) -> float:
        return round(TOP + plot_h * (1 - pence / top_value), 1)

    raised = [f"{x(0)},{y(0)}"] + [f"{x(i + 1)},{y(r.total_pence)}" for i, r in enumerate(rows)]
    pace = f"{x(0)},{y(0)} {x(days)},{y(fig.target_pence)}"
    steps = 4
    y_labels = [(y(fig.target_pence * i // steps), fig.target_pence * i // steps)
                for i in range(steps + 1)]
    x_labels = [(x(0), fig.opens_on), (x(days), fig.deadline)]
    middle = fig.opens_on + dt.timedelta(days=days // 2)
    if days > 6:
        x_labels.insert(1, (x(days // 2), middle))
    return Chart(rows=rows, raised_points=" ".join(raised), pace_points=pace,
                 target_y=y(fig.target_pence), y_labels=y_labels, x_labels=x_labels)


def week_start(today: dt.date) -> dt.date:
    """Monday of this week."""
    return today - dt.timedelta(days=today.weekday())


def received_between(daily: list[tuple[dt.date, int, int]], first: dt.date,
                     last: dt.date) -> int:
    return sum(pence for day, pence, _count in daily if first <= day <= last)
