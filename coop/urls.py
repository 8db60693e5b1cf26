"""The app's URLs: the numbers they take, and absolute links for anything that leaves the
site (emails, feeds, embeds, calendars).

Absolute links are always built from ``BASE_URL`` (``COOP_BASE_URL``), never from the
request: a ``Host`` or ``X-Forwarded-Host`` header must not be able to redirect a link in an
email.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, request
from werkzeug.routing import IntegerConverter, Map, MapAdapter

#: the largest id a row can have: the tables' keys are 32-bit integers on PostgreSQL
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: Werkzeug's, with at most :data:`MAX_ID` unless the route
    says otherwise. A bigger number is no page (404); unbounded, ``/notices/<20 digits>/dismiss``
    reached the database and SQLite refused it (OverflowError, a 500)."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002
                 max: int | None = MAX_ID, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def id_or_none(value) -> int | None:
    """A row's id sent in a query string or a form (``?entry=12``), or None for anything that
    can't be one (as :class:`IdConverter` reads a route's): a bigger number would reach the
    database and fail there (PostgreSQL: "integer out of range", a 500)."""
    text = value if isinstance(value, str) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def init_app(app: Flask) -> None:
    """Before any route is added: routes take their converters when they are registered."""
    app.url_map.converters["int"] = IdConverter


def external_url(endpoint: str, **values) -> str:
    """``url_for(endpoint, **values)`` as an absolute URL on ``BASE_URL``."""
    return _adapter(current_app._get_current_object()).build(endpoint, values,
                                                             force_external=True)


def _adapter(app: Flask) -> MapAdapter:
    """The app's URL map bound to ``BASE_URL``: made once per app and base URL, the latest
    one kept (binding is most of what a link costs; an adapter only reads the map, so
    requests and threads can share it)."""
    base = app.config["BASE_URL"]
    known = app.extensions.get("coop.urls")
    if known is None or known[0] != base:
        parts = urlsplit(base)
        known = app.extensions["coop.urls"] = (base, app.url_map.bind(
            parts.netloc, url_scheme=parts.scheme or "https", script_name=parts.path or "/"
        ))
    return known[1]


def site_host() -> str:
    """The host in calendar UIDs and Atom ids: fixed by ``BASE_URL``, not by the request."""
    return urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"


def absolute_url(url: str) -> str:
    """A configured link for an email: kept when absolute, else a path on ``BASE_URL``."""
    if urlsplit(url).scheme:
        return url
    return current_app.config["BASE_URL"].rstrip("/") + "/" + url.lstrip("/")


def canonical_url() -> str | None:
    """This page's own address on ``BASE_URL`` (``<link rel="canonical">``, ``og:url``): its
    endpoint and URL arguments, plus ``page`` past the first; other query parameters (filters,
    tracking) are left out. None outside a view and for a link that carries a secret token
    (an emailed manage or reset link is not for sharing, nor for search engines)."""
    if request.endpoint is None or request.endpoint == "static":
        return None
    values = dict(request.view_args or {})
    if "token" in values:
        return None
    page = request.args.get("page", type=int)
    if page is not None and page > 1:
        values["page"] = page
    return external_url(request.endpoint, **values)
