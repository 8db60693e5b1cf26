"""The daily-tally chart and the bar, as numbers a template turns into SVG (no JavaScript)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from coop.formatting import money
from coop.fund.figures import CampaignFigures, expected_by

#: the chart's drawing area inside its viewBox
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36


@dataclass(frozen=True)
class Geometry:
    """How one drawing of the chart is laid out. Text in an SVG scales with it, so a phone
    gets a drawing of its own: half as wide, with fewer and relatively larger labels."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    font_size: int
    y_steps: int
    x_middle: bool
    short_money: bool


#: for screens from 40rem up (drawn 608 px wide or more: 12-unit labels are 11.4 px or more)
WIDE = Geometry(WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM, font_size=12, y_steps=4,
                x_middle=True, short_money=False)
#: for phones (drawn 288 to 416 px wide: 15-unit labels are 13.5 to 19.5 px)
NARROW = Geometry(320, 214, 48, 12, 14, 32, font_size=15, y_steps=2, x_middle=False,
                  short_money=True)


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
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    x_labels: list[tuple[float, dt.date]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    bottom_edge: int = HEIGHT - BOTTOM
    top: int = TOP
    font_size: int = 12


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


def short_money(pence: int) -> str:
    """A money label for a small chart: "£18k", "£4.5k", "£750"."""
    pounds = pence // 100
    if pounds < 1000:
        return money(pounds * 100)
    thousands = f"{pounds / 1000:.1f}".removesuffix(".0")
    return f"£{thousands}k"


def build_chart(fig: CampaignFigures, rows: list[TallyRow], geometry: Geometry = WIDE) -> Chart:
    g = geometry
    days = (fig.deadline - fig.opens_on).days + 1
    top_value = max(fig.target_pence, max((r.total_pence for r in rows), default=0))
    top_value = int(top_value * 1.08) or 1
    plot_w = g.width - g.left - g.right
    plot_h = g.height - g.top - g.bottom

    def x(day_index: float) -> float:
        return round(g.left + plot_w * day_index / days, 1)

    def y(pence: int) -> float:
        return round(g.top + plot_h * (1 - pence / top_value), 1)

    raised = [f"{x(0)},{y(0)}"] + [f"{x(i + 1)},{y(r.total_pence)}" for i, r in enumerate(rows)]
    pace = f"{x(0)},{y(0)} {x(days)},{y(fig.target_pence)}"
    label = short_money if g.short_money else money
    steps = g.y_steps
    y_labels = [(y(fig.target_pence * i // steps), label(fig.target_pence * i // steps))
                for i in range(steps + 1)]
    x_labels = [(x(0), fig.opens_on), (x(days), fig.deadline)]
    middle = fig.opens_on + dt.timedelta(days=days // 2)
    if days > 6 and g.x_middle:
        x_labels.insert(1, (x(days // 2), middle))
    return Chart(rows=rows, raised_points=" ".join(raised), pace_points=pace,
                 target_y=y(fig.target_pence), y_labels=y_labels, x_labels=x_labels,
                 width=g.width, height=g.height, left=g.left, right_edge=g.width - g.right,
                 bottom_edge=g.height - g.bottom, top=g.top, font_size=g.font_size)


def week_start(today: dt.date) -> dt.date:
    """Monday of this week."""
    return today - dt.timedelta(days=today.weekday())


def received_between(daily: list[tuple[dt.date, int, int]], first: dt.date,
                     last: dt.date) -> int:
    return sum(pence for day, pence, _count in daily if first <= day <= last)
