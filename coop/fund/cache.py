"""The public figures' per-process cache: at most ``FUND_CACHE_SECONDS`` (1 s) old, read on a
miss through one Core SELECT, and emptied the moment this process commits a fund change.

Any writer that goes through a SQLAlchemy session (staff views, the payment API, the CLI)
invalidates it without knowing about it: a session listener notes when fund rows were
flushed or fund tables written, and clears every cache in the process after the commit.
Other processes catch up within the time-to-live.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from coop.fund.figures import CampaignFigures
from coop.fund.models import Campaign, Entry

FUND_TABLES = frozenset({"fund_campaigns", "fund_entries"})
_FLAG = "coop.fund.changed"

#: every cache in the process, so a commit in any session clears them all
_caches: weakref.WeakSet[FiguresCache] = weakref.WeakSet()


class FiguresCache:
    """A tiny time-limited map. A value loaded while an invalidation happened is not kept,
    so a reader that raced a commit can't put the old figures back."""

    def __init__(self, ttl: float = 1.0, max_items: int = 256):
        self.ttl = ttl
        self.max_items = max_items
        self._items: dict[Any, tuple[float, Any]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        #: the clock the time-to-live is measured with (tests replace it)
        self.clock = time.monotonic
        _caches.add(self)

    def get(self, key, loader: Callable[[], Any]):
        hit = self._items.get(key)
        now = self.clock()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        generation = self._generation
        value = loader()
        with self._lock:
            if generation == self._generation:
                if len(self._items) >= self.max_items:
                    self._items.clear()
                self._items[key] = (now, value)
        return value

    def peek(self, key):
        """The value if it is cached and fresh, else None (never loads)."""
        hit = self._items.get(key)
        if hit is not None and self.clock() - hit[0] < self.ttl:
            return hit[1]
        return None

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._items.clear()


def invalidate_all() -> None:
    for cache in list(_caches):
        cache.clear()


def cache() -> FiguresCache:
    return current_app.extensions["coop.fund.cache"]


# ---------------------------------------------------------------------------------------------
# Loading: one Core SELECT, no ORM objects

_COLUMNS = [Campaign.__table__.c[name] for name in CampaignFigures.__slots__]


def _row_to_figures(row) -> CampaignFigures | None:
    if row is None:
        return None
    return CampaignFigures(*row)


def _select_current(conn, today: dt.date) -> CampaignFigures | None:
    table = Campaign.__table__
    stmt = (
        sa.select(*_COLUMNS)
        .where(table.c.closed_at.is_(None), table.c.deadline >= today)
        .order_by(table.c.opens_on, table.c.id)
        .limit(1)
    )
    return _row_to_figures(conn.execute(stmt).first())


def _select_slug(conn, slug: str) -> CampaignFigures | None:
    stmt = sa.select(*_COLUMNS).where(Campaign.__table__.c.slug == slug)
    return _row_to_figures(conn.execute(stmt).first())


def _with_connection(func, *args):
    from coop.extensions import db

    with db.engine.connect() as conn:
        return func(conn, *args)


def current_figures(today: dt.date) -> CampaignFigures | None:
    """The open campaign's figures, else the next upcoming one's, else None."""
    return cache().get(("current", today), lambda: _with_connection(_select_current, today))


def figures_for_slug(slug: str) -> CampaignFigures | None:
    if not slug or len(slug) > 64:
        return None
    return cache().get(("slug", slug), lambda: _with_connection(_select_slug, slug))


def memo(key, build: Callable[[], Any]):
    """Something derived from figures (the JSON body, a rendered badge, the chart's data),
    kept like the figures themselves; ``key`` must include the figures' version."""
    return cache().get(("memo", key), build)


# ---------------------------------------------------------------------------------------------
# Invalidation


def _mark(session: Session) -> None:
    session.info[_FLAG] = True


def _after_flush(session: Session, _context) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Campaign | Entry):
            _mark(session)
            return


def _do_orm_execute(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in FUND_TABLES:
            _mark(state.session)


def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        invalidate_all()


def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)


_listening = False


def listen() -> None:
    """Attach the invalidation listeners to every SQLAlchemy session (once per process)."""
    global _listening
    if _listening:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _do_orm_execute)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    _listening = True
