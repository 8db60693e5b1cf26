"""Time, in one place: aware UTC inside, Europe/London for people.

Stored and compared times are aware UTC (``now_utc``); what readers and staff type and see is
London wall-clock time. Formatting for display (Babel) is in :mod:`coop.formatting`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class NonexistentLocalTime(ValueError):
    """A London wall-clock time that the clocks skip when they go forward."""


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def london_today(now: dt.datetime | None = None) -> dt.date:
    """The day it is in London at ``now`` (default: this moment)."""
    return (now or now_utc()).astimezone(LONDON).date()


def to_london(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: store and pass aware UTC datetimes")
    return value.astimezone(LONDON)


def london_to_utc(local: dt.datetime) -> dt.datetime:
    """A naive London wall-clock time as aware UTC.

    In the autumn hour that happens twice the first (British Summer Time, ``fold=0``) one is
    meant; a time in the spring gap does not exist and is refused rather than silently moved.
    """
    if local.tzinfo is not None:
        raise ValueError("expected a naive London time")
    local = local.replace(fold=0)
    utc = local.replace(tzinfo=LONDON).astimezone(dt.UTC)
    if utc.astimezone(LONDON).replace(tzinfo=None) != local:
        raise NonexistentLocalTime(
            "That time doesn't exist in London: the clocks go forward then.")
    return utc


def utc_to_london(value: dt.datetime) -> dt.datetime:
    """Aware UTC as a naive London time, for a form field."""
    return to_london(value).replace(tzinfo=None)


def london_midnight(day: dt.date) -> dt.datetime:
    """The UTC instant a London day begins."""
    return dt.datetime.combine(day, dt.time(), tzinfo=LONDON).astimezone(dt.UTC)


def iso_utc(value: dt.datetime) -> str:
    """``2022-11-13T09:30:00Z``."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
