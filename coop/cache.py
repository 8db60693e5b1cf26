"""The one cache: public responses for anonymous readers, and values that many requests read.

**The freshness rule.** Whatever is kept (a whole response, or a value such as the fund's
figures or the current site notices) is dropped *at once* in the server process that wrote to
the database, and is at most ``CACHE_SECONDS`` old (default 2) in every other process.
``Cache-Control: public, max-age=2, s-maxage=2`` on kept responses tells browsers and any
proxy or CDN in front the same thing.

How it holds:

- Every write through SQLAlchemy in this process (an INSERT, UPDATE or DELETE, from the ORM or
  Core, in any session or connection) marks its connection; when that connection commits, the
  process's *version* goes up, and everything kept under an older version is stale. (It goes
  up again after an ORM session's commit returns, so a page another thread built from the
  rows just before the commit isn't kept either.)
- Everything kept carries the version and the time it was made, and is used only while the
  version is unchanged and it is younger than ``CACHE_SECONDS``. A response built while the
  version moved is not kept.
- Both stores are least-recently-used maps of at most ``CACHE_MAX_ENTRIES`` entries.

**Responses.** A view opts in by declaring the query parameters its answer depends on::

    @bp.route("/events")
    @access("public")
    @cached(params=("tag", "mode", "page"))
    def index(): ...

The key is the path and those parameters' values, nothing else: other parameters (``?x=1``)
neither make new entries nor change the answer, and the ``Host`` header plays no part (links
that leave the site come from ``BASE_URL``). Only a ``GET`` with no ``Cookie`` and no
``Authorization`` header is answered from, or stored in, the cache: anyone logged in, or with
a cookie the page may depend on (a dismissed notice, a flashed message), goes through Flask.
Only a 200 that sets no cookie is kept. The answer gets an ``ETag`` (a hash of the body) and a
matching ``If-None-Match`` gets a 304, from Flask or from the cache alike.

The cache sits in front of Flask as a WSGI layer (see ``create_app``), so a hit costs a dict
lookup rather than a request context. It knows no feature: views say what they keep.

**Values.** ``memo(key, load)`` keeps what ``load()`` returns under the same rule; the value
must be plain data (not ORM objects bound to a session).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import parse_qs

import sqlalchemy as sa
from flask import Flask, current_app, g, request
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, SecurityError
from werkzeug.routing import RequestRedirect
from werkzeug.wsgi import get_host

#: the environ key a cached view sets so the WSGI layer may keep its answer
KEEP = "coop.cache.keep"
_WROTE = "coop.cache.wrote"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE")


# --------------------------------------------------------------------------- the version


class _Version:
    """The process's version of the database: up by one after every commit that wrote."""

    value = 0
    lock = threading.Lock()
    local = threading.local()

    @classmethod
    def bump(cls) -> None:
        with cls.lock:
            cls.value += 1


def current_version() -> int:
    return _Version.value


def invalidate() -> None:
    """Make everything kept in this process stale now, as a commit that wrote does (the
    listeners below bump the version themselves)."""
    _Version.bump()


@event.listens_for(sa.engine.Engine, "after_cursor_execute")
def _note_write(conn, _cursor, statement, _parameters, context, _executemany):
    if conn.info.get(_WROTE):
        return
    orm_write = context is not None and (context.isinsert or context.isupdate
                                         or context.isdelete)
    if orm_write or statement.lstrip()[:7].upper().startswith(_WRITES):
        conn.info[_WROTE] = True


@event.listens_for(sa.engine.Engine, "commit")
def _bump_on_commit(conn):
    if conn.info.pop(_WROTE, False):
        _Version.bump()
        _Version.local.after_commit = True


@event.listens_for(sa.engine.Engine, "rollback")
def _forget_on_rollback(conn):
    conn.info.pop(_WROTE, None)


@event.listens_for(Session, "after_commit")
def _bump_after_session_commit(_session):
    if getattr(_Version.local, "after_commit", False):
        _Version.local.after_commit = False
        _Version.bump()


# --------------------------------------------------------------------------- the stores


class LRU:
    """A bounded map; the least recently used entry goes first when it is full."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass(frozen=True, slots=True)
class Kept:
    version: int
    made: float
    value: Any


class Store:
    """Values kept under the freshness rule (one per app: ``app.extensions["coop.cache"]``)."""

    def __init__(self, seconds: float, max_entries: int):
        self.seconds = seconds
        self.values = LRU(max_entries)
        self.responses = LRU(max_entries)
        #: the clock the age is measured with (tests replace it)
        self.clock = time.monotonic

    def fresh(self, kept: Kept | None) -> bool:
        return kept is not None and kept.version == _Version.value and (
            self.clock() - kept.made < self.seconds)

    def memo(self, key: Hashable, load: Callable[[], Any], *, keep_none: bool = True):
        kept = self.values.get(key)
        if self.fresh(kept):
            return kept.value
        version, made = _Version.value, self.clock()
        value = load()
        if self.seconds > 0 and version == _Version.value and (keep_none or value is not None):
            self.values.put(key, Kept(version, made, value))
        return value


def store() -> Store:
    return current_app.extensions["coop.cache"]


def memo(key: Hashable, load: Callable[[], Any], *, keep_none: bool = True):
    """``load()``, or what it returned before while that is fresh (see the module).
    ``keep_none=False``: a None (nothing found) isn't kept, for keys anyone can make up."""
    return store().memo(key, load, keep_none=keep_none)


# --------------------------------------------------------------------------- responses


def public_cache_control(seconds: float) -> str:
    whole = max(int(seconds), 0)
    return f"public, max-age={whole}, s-maxage={whole}"


def cached(params: Iterable[str] = (), headers: Iterable[str] = ()):
    """Let the response cache keep this view's answers to anonymous readers.

    ``params`` are the query parameters the answer depends on; any others are ignored, so the
    view must not read them (nor use ``request.full_path`` and the like). ``headers`` are
    request headers it depends on (e.g. ``Origin`` for CORS with a list of sites); they are
    added to ``Vary``.
    """
    names = tuple(params)
    header_names = tuple(headers)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            response = current_app.make_response(view(*args, **kwargs))
            if request.method not in ("GET", "HEAD") or response.status_code != 200:
                return response
            for name in header_names:
                response.vary.add(name)
            # A sessionless answer (the embeds, the JSON: coop.security.sessionless) is the
            # same for everyone; any other (the header's "Log in") is public only for readers
            # without cookies, and Flask adds "Vary: Cookie" to it.
            anonymous = not request.cookies and "Authorization" not in request.headers
            if anonymous or g.get("sessionless"):
                seconds = current_app.extensions["coop.cache"].seconds
                response.headers["Cache-Control"] = public_cache_control(seconds)
            if anonymous:
                request.environ[KEEP] = True
            if not response.is_streamed:
                response.add_etag()
                response.make_conditional(request)
            return response

        wrapped.cache_params = names
        wrapped.cache_headers = tuple("HTTP_" + h.upper().replace("-", "_")
                                      for h in header_names)
        return wrapped

    return decorator


@dataclass(frozen=True, slots=True)
class KeptResponse:
    status: str
    headers: list[tuple[str, str]]
    not_modified: list[tuple[str, str]]
    etag: str | None
    body: bytes


def _matches(if_none_match: str, etag: str) -> bool:
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


class ResponseCache:
    """The WSGI layer that answers anonymous ``GET`` requests from kept responses."""

    def __init__(self, app: Flask, wsgi_app: Callable, store: Store):
        self.app = app
        self.wsgi_app = wsgi_app
        self.store = store
        #: Flask refuses other hosts (TRUSTED_HOSTS); so must a kept answer
        self.trusted_hosts = app.config.get("TRUSTED_HOSTS")
        self._adapter = None

    def _declared(self, path: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The parameters and headers the view at ``path`` declared, or None when it keeps
        nothing."""
        if self._adapter is None:
            self._adapter = self.app.url_map.bind("localhost")
        try:
            endpoint, _args = self._adapter.match(path, "GET")
        except (HTTPException, RequestRedirect):
            return None
        view = self.app.view_functions.get(endpoint)
        params = getattr(view, "cache_params", None)
        return None if params is None else (params, view.cache_headers)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (environ.get("REQUEST_METHOD") != "GET" or "HTTP_COOKIE" in environ
                or "HTTP_AUTHORIZATION" in environ):
            return self.wsgi_app(environ, start_response)
        path = environ.get("PATH_INFO") or "/"
        query_string = environ.get("QUERY_STRING", "")
        if "\x00" in path or "%00" in query_string:
            return self.wsgi_app(environ, start_response)  # refused by coop.security
        if self.trusted_hosts:
            try:
                get_host(environ, trusted_hosts=self.trusted_hosts)
            except SecurityError:
                return self.wsgi_app(environ, start_response)  # Flask answers 400
        declared = self._declared(path)
        if declared is None:
            return self.wsgi_app(environ, start_response)
        params, headers = declared
        key: tuple = (path,)
        if params:
            query = parse_qs(query_string, keep_blank_values=True)
            key += tuple(tuple(query.get(name, ())) for name in params)
        if headers:
            key += tuple(environ.get(name) for name in headers)
        kept = self.store.responses.get(key)
        if self.store.fresh(kept):
            answer: KeptResponse = kept.value
            inm = environ.get("HTTP_IF_NONE_MATCH")
            if inm and answer.etag and _matches(inm, answer.etag):
                start_response("304 NOT MODIFIED", answer.not_modified)
                return []
            start_response(answer.status, answer.headers)
            return [answer.body]
        return self._through_flask(key, environ, start_response)

    def _through_flask(self, key: tuple, environ: dict, start_response: Callable):
        version, made = _Version.value, self.store.clock()
        seen: dict = {}

        def capture(status, headers, exc_info=None):
            seen.update(status=status, headers=headers)
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        app_iter = self.wsgi_app(environ, capture)
        headers = seen.get("headers") or []
        if not environ.get(KEEP) or not seen.get("status", "").startswith("200") or any(
                name.lower() == "set-cookie" for name, _ in headers):
            return app_iter
        try:
            body = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        if version == _Version.value:
            etag = next((v for n, v in headers if n.lower() == "etag"), None)
            not_modified = [(n, v) for n, v in headers
                            if n.lower() not in ("content-type", "content-length")]
            self.store.responses.put(key, Kept(version, made, KeptResponse(
                seen["status"], list(headers), not_modified, etag, body)))
        return [body]


def init_app(app: Flask) -> Store:
    """The store for this app; ``create_app`` puts :class:`ResponseCache` in front of Flask."""
    app.config.setdefault("CACHE_SECONDS", 2)
    app.config.setdefault("CACHE_MAX_ENTRIES", 512)
    app.config.setdefault("CACHE_RESPONSES", True)
    kept = Store(float(app.config["CACHE_SECONDS"]), int(app.config["CACHE_MAX_ENTRIES"]))
    app.extensions["coop.cache"] = kept
    return kept
