"""A small per-process cache of the rendered event listings (the part of /events below the
heading), so the busiest public page doesn't repeat its queries for every visitor.

Entries live at most ``EVENTS_CACHE_SECONDS`` (default 5; 0 turns the cache off) and are
dropped the moment this process commits a change to events, series, tags or registrations:
a session listener notes such flushes and clears every listing cache after the commit. Other
processes catch up within the time-to-live. Nothing user-specific is cached: the key holds
whether members-only events are included, and the fragment has no form tokens.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

_FLAG = "coop.events.changed"
_caches: weakref.WeakSet[ListingCache] = weakref.WeakSet()


class ListingCache:
    def __init__(self, ttl: float, max_items: int = 512):
        self.ttl = ttl
        self.max_items = max_items
        self._items: dict[Any, tuple[float, Any]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        _caches.add(self)

    def get(self, key, loader: Callable[[], Any]):
        if self.ttl <= 0:
            return loader()
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        generation = self._generation
        value = loader()
        with self._lock:
            # a value loaded while a change was committed is not kept
            if generation == self._generation:
                if len(self._items) >= self.max_items:
                    self._items.clear()
                self._items[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._items.clear()


def invalidate_all() -> None:
    for cache in list(_caches):
        cache.clear()


def listing_cache() -> ListingCache:
    return current_app.extensions["coop.events.cache"]


def _touches_events(session: Session) -> bool:
    from coop.events.models import Event, EventMessage, EventTag, Registration, Series

    kinds = (Event, EventTag, Registration, Series, EventMessage)
    return any(isinstance(obj, kinds)
               for obj in (*session.new, *session.dirty, *session.deleted))


@event.listens_for(Session, "before_flush")
def _note_changes(session, _flush_context, _instances):
    if _touches_events(session):
        session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _clear_after_commit(session):
    if session.info.pop(_FLAG, False):
        invalidate_all()


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session):
    session.info.pop(_FLAG, None)


def init_app(app: Flask) -> None:
    app.config.setdefault("EVENTS_CACHE_SECONDS", 5)
    app.extensions["coop.events.cache"] = ListingCache(float(app.config["EVENTS_CACHE_SECONDS"]))
