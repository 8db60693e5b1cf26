"""Day-by-day totals and the thanks list for the campaign page, kept up to date incrementally.

The ledger is append-only, so after one full pass a process only needs the entries added
since (``id > last seen``). Each step reads the new entries and the campaign's running total
in one statement, so both come from the same snapshot: if the tally then disagrees with the
running total (an entry committed out of id order, or a ledger replaced by a bulk load), the
tally is rebuilt from scratch. A million-entry ledger costs one full pass per process, then a
few rows per new gift.

The one thing that changes about a line already read is whether its donor's name, typed
online, has been checked (``Entry.thanks_check``). Each decision moves the campaign's
``thanks_version``; a tally behind it reads the thanks list again (one query, not the ledger).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field

import sqlalchemy as sa

from coop.fund.models import Campaign, Entry, thanked_clause

#: how many thanked donors a page keeps
THANKS_KEPT = 40
#: more new entries than this at once and a full pass is cheaper than fetching them all
INCREMENT_LIMIT = 5_000

_campaigns = Campaign.__table__
_entries = Entry.__table__


@dataclass
class Tally:
    campaign_id: int
    last_id: int = 0
    count: int = 0
    raised: int = 0
    #: day → pence received that day (corrections included)
    daily: dict[dt.date, int] = field(default_factory=dict)
    #: "J. Smith of Leeds", newest first, each once
    thanks: list[str] = field(default_factory=list)
    #: the campaign's ``thanks_version`` the list was read at
    thanks_version: int = 0

    def daily_rows(self) -> list[tuple[dt.date, int, int]]:
        return [(day, pence, 0) for day, pence in sorted(self.daily.items())]

    def add_thanks(self, labels_newest_first: list[str]) -> None:
        merged: list[str] = []
        for label in [*labels_newest_first, *self.thanks]:
            if label not in merged:
                merged.append(label)
        self.thanks = merged[:THANKS_KEPT]


def _label(name: str, town: str | None) -> str:
    return f"{name} of {town}" if town else name


def _full(conn, campaign_id: int) -> tuple[Tally, int, int]:
    """Rebuild from the whole ledger; returns the tally and the running total and count read
    in the same statement."""
    rows = conn.execute(
        sa.select(_entries.c.received_on, sa.func.sum(_entries.c.amount_pence),
                  sa.func.count(_entries.c.id), sa.func.max(_entries.c.id),
                  _campaigns.c.raised_pence, _campaigns.c.entry_count)
        .select_from(_campaigns.outerjoin(_entries, _entries.c.campaign_id == _campaigns.c.id))
        .where(_campaigns.c.id == campaign_id)
        .group_by(_entries.c.received_on, _campaigns.c.raised_pence, _campaigns.c.entry_count)
    ).all()
    tally = Tally(campaign_id)
    raised = int(rows[0][4]) if rows else 0
    count = int(rows[0][5]) if rows else 0
    for day, pence, n, last_id, _raised, _count in rows:
        if day is None:
            continue
        tally.daily[day] = int(pence)
        tally.count += int(n)
        tally.raised += int(pence)
        tally.last_id = max(tally.last_id, int(last_id))
    _read_thanks(conn, tally)
    return tally, raised, count


def _read_thanks(conn, tally: Tally) -> None:
    """The thanks list from the ledger (up to the tally's last line), read after the
    campaign's ``thanks_version`` so the names are at least as new as the version kept."""
    tally.thanks_version = int(conn.scalar(
        sa.select(_campaigns.c.thanks_version).where(_campaigns.c.id == tally.campaign_id)
    ) or 0)
    rows = conn.execute(
        sa.select(_entries.c.donor_name, _entries.c.donor_town)
        .where(_entries.c.campaign_id == tally.campaign_id, _entries.c.id <= tally.last_id,
               thanked_clause(_entries))
        .order_by(_entries.c.id.desc())
        .limit(THANKS_KEPT * 3)
    ).all()
    tally.thanks = []
    tally.add_thanks([_label(name, town) for name, town in rows])


def _increment(conn, old: Tally) -> tuple[Tally, int, int] | None:
    """Add the entries after ``old.last_id``; None when there are too many to fetch."""
    rows = conn.execute(
        sa.select(_campaigns.c.raised_pence, _campaigns.c.entry_count, _entries.c.id,
                  _entries.c.received_on, _entries.c.amount_pence, _entries.c.donor_name,
                  _entries.c.donor_town, thanked_clause(_entries))
        .select_from(_campaigns.outerjoin(
            _entries, sa.and_(_entries.c.campaign_id == _campaigns.c.id,
                              _entries.c.id > old.last_id)))
        .where(_campaigns.c.id == old.campaign_id)
        .order_by(_entries.c.id)
        .limit(INCREMENT_LIMIT + 1)
    ).all()
    if len(rows) > INCREMENT_LIMIT or not rows:
        return None
    tally = Tally(old.campaign_id, old.last_id, old.count, old.raised, dict(old.daily),
                  list(old.thanks), old.thanks_version)
    thanked = []
    for _raised, _count, entry_id, day, pence, name, town, is_thanked in rows:
        if entry_id is None:
            continue
        tally.last_id = max(tally.last_id, entry_id)
        tally.count += 1
        tally.raised += pence
        tally.daily[day] = tally.daily.get(day, 0) + pence
        if is_thanked:
            thanked.append(_label(name, town))
    tally.add_thanks(list(reversed(thanked)))
    return tally, int(rows[0][0]), int(rows[0][1])


def _up_to(tally: Tally | None, count: int, thanks_version: int) -> bool:
    return tally is not None and tally.count >= count and tally.thanks_version >= thanks_version


class TallyKeeper:
    """One tally per campaign for this process."""

    def __init__(self):
        self._tallies: dict[int, Tally] = {}
        self._lock = threading.Lock()

    def get(self, engine: sa.Engine, campaign_id: int, *, count: int,
            thanks_version: int = 0) -> Tally:
        """The tally, brought up to date when the figures (``count`` entries, names checked up
        to ``thanks_version``) are ahead of it.

        A tally ahead of the figures is kept: the figures may be a moment old, and the ledger
        only grows.
        """
        tally = self._tallies.get(campaign_id)
        if _up_to(tally, count, thanks_version):
            return tally
        with self._lock:  # one rebuild at a time; others wait and reuse it
            tally = self._tallies.get(campaign_id)
            if _up_to(tally, count, thanks_version):
                return tally
            with engine.connect() as conn:
                if tally is not None and tally.count >= count:
                    result = None  # only a name was decided: read the thanks list again
                    tally = Tally(tally.campaign_id, tally.last_id, tally.count, tally.raised,
                                  dict(tally.daily))
                    _read_thanks(conn, tally)
                else:
                    result = _increment(conn, tally) if tally is not None else None
                    if result is None or (result[0].raised, result[0].count) != result[1:]:
                        result = _full(conn, campaign_id)
                    tally = result[0]
                    if tally.thanks_version < thanks_version:
                        _read_thanks(conn, tally)
            self._tallies[campaign_id] = tally
            return tally
