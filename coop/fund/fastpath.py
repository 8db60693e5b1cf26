"""A WSGI-level response cache for the embeds: ``/api/fund``, ``/api/fund/<slug>``,
``/fund/widget`` and ``/fund/badge.svg``.

Every article page embeds these, so they are the site's hottest URLs. The first request for a
version of the figures goes through Flask as usual (access check, view, security headers); the
complete response it produced is kept, and later requests are answered from it without
building a request context, as long as

- the figures it was built from are still the cached ones (so it is never older than the
  figure cache allows: ``FUND_CACHE_SECONDS``, and emptied at once on a local commit), and
- the clock-dependent part of the ETag (the London day; the hour on the last day) still holds.

Only plain ``GET`` requests without a query string are answered here; the view marks the
responses that may be kept (they set no cookie and don't vary by user), and the marker header
never leaves the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from coop.db import now_utc
from coop.fund.cache import FiguresCache
from coop.fund.figures import london_today
from coop.wsgi import drain

#: set by a view on a response the middleware may keep; its value is the unquoted ETag
MARKER = "X-Coop-Fund-Keep"
CURRENT_PATHS = {"/api/fund": "j-", "/fund/widget": "w-", "/fund/badge.svg": "b-"}
SLUG_PREFIX = "/api/fund/"
MAX_KEPT = 128


@dataclass(frozen=True, slots=True)
class Kept:
    etag: str
    quoted: str
    status: str
    headers: list[tuple[str, str]]
    not_modified_headers: list[tuple[str, str]]
    body: bytes


def _matches(if_none_match: str, quoted: str) -> bool:
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == quoted:
            return True
    return False


class FastFigures:
    def __init__(self, wsgi_app: Callable, figures: FiguresCache):
        self.wsgi_app = wsgi_app
        self.figures = figures
        self.kept: dict[tuple, Kept] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING") or not (
            path in CURRENT_PATHS or path.startswith(SLUG_PREFIX)
        ):
            return self.wsgi_app(environ, start_response)
        key = (path, environ.get("HTTP_HOST"), environ.get("wsgi.url_scheme"),
               environ.get("HTTP_X_FORWARDED_HOST"), environ.get("HTTP_X_FORWARDED_PROTO"),
               environ.get("SCRIPT_NAME"))
        kept = self.kept.get(key)
        if kept is not None and kept.etag == self._current_etag(path):
            inm = environ.get("HTTP_IF_NONE_MATCH")
            if inm and _matches(inm, kept.quoted):
                start_response("304 NOT MODIFIED", kept.not_modified_headers)
                return []
            start_response(kept.status, kept.headers)
            return [kept.body]
        return self._through_flask(key, environ, start_response)

    def _current_etag(self, path: str) -> str | None:
        """The ETag the view would give now, or None when the figures aren't cached."""
        now = now_utc()
        prefix = CURRENT_PATHS.get(path)
        if prefix is not None:
            fig = self.figures.peek(("current", london_today(now)))
        else:
            prefix = "j-"
            fig = self.figures.peek(("slug", path[len(SLUG_PREFIX):]))
        if fig is None:
            return None
        return prefix + fig.etag_key(now)

    def _through_flask(self, key: tuple, environ: dict, start_response: Callable):
        seen: dict = {}

        def capture(status, headers, exc_info=None):
            marker = None
            clean = []
            for name, value in headers:
                if name == MARKER:
                    marker = value
                else:
                    clean.append((name, value))
            seen.update(status=status, headers=clean, marker=marker)
            if exc_info is not None:
                return start_response(status, clean, exc_info)
            return start_response(status, clean)

        app_iter = self.wsgi_app(environ, capture)
        if not seen.get("marker") or not seen["status"].startswith("200"):
            return app_iter
        body = drain(app_iter)
        headers = seen["headers"]
        quoted = f'"{seen["marker"]}"'
        not_modified = [(n, v) for n, v in headers if n.lower() not in
                        ("content-type", "content-length")]
        with self._lock:
            if len(self.kept) >= MAX_KEPT:
                self.kept.clear()
            self.kept[key] = Kept(seen["marker"], quoted, seen["status"], headers,
                                  not_modified, body)
        return [body]
