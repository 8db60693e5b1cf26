"""Display formatting: money through one strict filter, times in Europe/London (Babel, en-GB)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal
from functools import lru_cache
from urllib.parse import quote

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency, format_decimal
from flask import Flask, current_app, has_request_context, request, url_for

from coop.timeutil import LONDON, iso_utc, to_london  # noqa: F401 - iso_utc is a filter

#: parsed once (Babel would parse the name again on every call)
LOCALE = Locale.parse("en_GB")


def money(pence: int, *, always_pence: bool = False) -> str:
    """``659_200`` → ``£6,592``; ``1250`` → ``£12.50``. Refuses anything but an int.

    Whole pounds are shown without ``.00``, as the paper prints them.
    """
    if isinstance(pence, bool) or not isinstance(pence, int):
        raise TypeError(f"money() takes integer pence, not {type(pence).__name__}")
    return _money(pence, always_pence)


@lru_cache(maxsize=4096)
def _money(pence: int, always_pence: bool) -> str:
    """Remembered: a page shows the same few amounts (presets, targets) many times."""
    pounds = Decimal(pence) / 100
    if pence % 100 == 0 and not always_pence:
        return format_currency(pounds, "GBP", format="¤#,##0", locale=LOCALE, currency_digits=False)
    return format_currency(pounds, "GBP", locale=LOCALE)


def money_input(pence: int | None) -> str:
    """Pence as a form would show it: ``1250`` → ``12.50``; ``1200`` → ``12``."""
    if pence is None:
        return ""
    if pence % 100 == 0:
        return str(pence // 100)
    sign = "-" if pence < 0 else ""
    return f"{sign}{abs(pence) // 100}.{abs(pence) % 100:02d}"


def number(value: int) -> str:
    return format_decimal(value, locale=LOCALE)


def london_date(value: dt.date | dt.datetime, fmt: str = "EEEE d MMMM y") -> str:
    """``Wednesday 9 November 2022``."""
    if isinstance(value, dt.datetime):
        value = to_london(value).date()
    return _date(value, fmt)


@lru_cache(maxsize=4096)
def _date(value: dt.date, fmt: str) -> str:
    return format_date(value, fmt, locale=LOCALE)


def short_date(value: dt.date | dt.datetime) -> str:
    """``9 Nov 2022``."""
    return london_date(value, "d MMM y")


def london_time(value: dt.datetime) -> str:
    """``7pm``, ``7.30pm``: the paper's style."""
    local = to_london(value)
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    if local.minute:
        return f"{hour}.{local.minute:02d}{suffix}"
    return f"{hour}{suffix}"


def london_datetime(value: dt.datetime) -> str:
    """``9 Nov 2022, 19:00`` for tables and audit trails."""
    return format_datetime(to_london(value), "d MMM y, HH:mm", tzinfo=LONDON, locale=LOCALE)


def london_clock(value: dt.datetime) -> str:
    return format_time(to_london(value), "HH:mm", tzinfo=LONDON, locale=LOCALE)


def mailto(address: str) -> str:
    """A ``mailto:`` link that names only this address: every character that could start a
    header (``?``, ``&``, ``=``, ``%``, ``#``) is percent-encoded (RFC 6068), so
    ``reader?bcc=x%40evil.example&subject=Re@example.org`` can't add a Bcc."""
    return "mailto:" + quote(address or "", safe="@!$'()*+:-._~")


def tel(number: str) -> str:
    """A ``tel:`` link: the digits and a leading +."""
    digits = "".join(ch for ch in (number or "") if ch.isdigit())
    return "tel:" + ("+" if (number or "").strip().startswith("+") else "") + digits


def url_if(endpoint: str, **values) -> str | None:
    """The URL of ``endpoint``, or None when no such view is registered (for navigation).

    Without ``values``, inside a request, the answer is worked out once per app and script
    root: the header and footer ask for the same few links on every page.
    """
    app = current_app._get_current_object()
    if endpoint not in app.view_functions:
        return None
    if values or not has_request_context():
        return url_for(endpoint, **values)
    known = app.extensions.setdefault("coop.url_if", {})
    key = (endpoint, request.script_root)
    url = known.get(key)
    if url is None:
        url = known[key] = url_for(endpoint)
    return url


def with_the(name: str) -> str:
    """A name after "the" in running text: "the People's Press" but "The People's Paper"
    (never "the The People's Paper"). Used as ``{{ config.SITE_NAME | the }}``."""
    name = (name or "").strip()
    return name if name.lower().startswith("the ") else f"the {name}"


def folded(text: str | None) -> str:
    """Text as searches compare it: accents off, case folded, spaces single ("Siobhán Ní
    Bhriain" → "siobhan ni bhriain"), so "ni bhriain" finds her on either database (SQLite's
    LIKE folds ASCII case only, and neither folds accents)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


#: characters that draw nothing: format characters (zero-width space and joiners, the word
#: joiner, the byte-order mark, direction marks and embeddings, the soft hyphen) and the Hangul
#: fillers, all used to make a name or an address line look filled in when it isn't
INVISIBLE = frozenset(
    "\u00ad\u061c\u115f\u1160\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c"
    "\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u206a\u206b"
    "\u206c\u206d\u206e\u206f\u3164\ufeff\uffa0")


def blank_invisible(value, *, lines: bool = False):
    """``""`` for text that shows nothing (only spaces and :data:`INVISIBLE` characters), so a
    required field holding only a zero-width space is empty (QA: it was taken as a name, an
    address and a note); anything visible is returned as it is, a joiner inside a Persian name
    or an emoji included. ``lines``: each line that shows nothing is emptied too (the
    register's addresses); not for Markdown, where such a line may be meant (review). Not
    text: returned as it is."""
    if not isinstance(value, str) or INVISIBLE.isdisjoint(value):
        return value
    if not lines:
        return "" if all(c.isspace() or c in INVISIBLE for c in value) else value
    kept = [blank_invisible(line) for line in value.split("\n")]
    return "\n".join(kept) if any(kept) else ""


def joined(names) -> str:
    """``["name", "email", "phone"]`` → ``"name, email and phone"``."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def init_app(app: Flask) -> None:
    from coop.access import page_kind
    from coop.forms import error_items
    from coop.markdown import render_inline_markdown, render_markdown
    from coop.urls import absolute_url, canonical_url, external_url

    app.jinja_env.globals["error_items"] = error_items

    app.jinja_env.globals["url_if"] = url_if
    app.jinja_env.globals["page_kind"] = page_kind
    app.jinja_env.globals["external_url"] = external_url
    app.jinja_env.globals["absolute_url"] = absolute_url
    app.jinja_env.globals["canonical_url"] = canonical_url
    app.add_template_filter(render_markdown, "markdown")
    app.add_template_filter(render_inline_markdown, "markdown_inline")
    app.add_template_filter(money)
    app.add_template_filter(money_input)
    app.add_template_filter(number)
    app.add_template_filter(london_date)
    app.add_template_filter(short_date)
    app.add_template_filter(london_time)
    app.add_template_filter(london_datetime)
    app.add_template_filter(london_clock)
    app.add_template_filter(iso_utc)
    app.add_template_filter(mailto)
    app.add_template_filter(tel)
    app.add_template_filter(with_the, "the")
