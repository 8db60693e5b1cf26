"""The bounds every feature shares: the dates people may enter, page numbers, one-line text.

One place for each, so a form and the service behind it refuse the same things with the same
words. (Amounts are bounded in :mod:`coop.money`, by ``MAX_PENCE``.)
"""

from __future__ import annotations

import datetime as dt
import re

from werkzeug.exceptions import NotFound

#: the first and last day anyone may enter anywhere (events, campaigns, filters, notices):
#: far enough for any real use, near enough that a day or a month after is still a date
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)
DATE_RANGE_TEXT = "between 1 January 2000 and 31 December 2100"

#: the highest ``?page=`` any list answers; beyond it, 404 (no list here is that long)
MAX_PAGE = 100_000
_PAGE = re.compile(r"[0-9]{1,9}")

#: characters that have no place in a one-line value: C0 and C1 controls (tab, line feed,
#: carriage return, escape, NUL…), DEL, and the Unicode line and paragraph separators.
#: They break email headers, calendar lines and CSV rows, or hide text.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: the bidirectional embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069):
#: invisible, they reorder the text around them (an account named "\u202eevil" reads
#: backwards in a list). One-line values drop them (:func:`without_direction_controls`), rather
#: than being refused for a character nobody can see (pasted right-to-left text brings them);
#: right-to-left names need none of them, and the marks U+200E and U+200F are kept.
DIRECTION_CONTROLS = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
SINGLE_LINE_MESSAGE = "Use a single line of ordinary text: no line breaks, tabs or control " \
                      "characters."


def date_in_range(value: dt.date) -> bool:
    if isinstance(value, dt.datetime):
        value = value.date()
    return EARLIEST_DATE <= value <= LATEST_DATE


def date_problem(value: dt.date | None, what: str = "The date") -> str | None:
    """The message for a date outside the range, or None (also for no date)."""
    if value is None or date_in_range(value):
        return None
    return f"{what} must be {DATE_RANGE_TEXT}."


def page_number(raw: str | None) -> int:
    """``?page=`` as a page number: missing, empty, negative or not a number → 1; a number
    above :data:`MAX_PAGE` (``99999999999999999999``) → 404, never an overflow in the database.

    :raise NotFound: for a page number no list can have.
    """
    text = (raw or "").strip()
    if not text:
        return 1
    if not _PAGE.fullmatch(text):
        if text.isascii() and text.isdigit():  # a number too long to be a page
            raise NotFound()
        return 1
    page = int(text)
    if page > MAX_PAGE:
        raise NotFound()
    return max(page, 1)


def current_page() -> int:
    """The request's ``?page=``, through :func:`page_number`."""
    from flask import request

    return page_number(request.args.get("page"))


def has_control_characters(text: str | None) -> bool:
    return bool(text) and CONTROL_CHARACTERS.search(text) is not None


def without_direction_controls(text: str) -> str:
    return DIRECTION_CONTROLS.sub("", text) if text else text


def one_line(text: str | None) -> str:
    """``text`` with every run of control characters and whitespace made one space: for
    values stored before the rule (or typed in a multi-line field) that must go on one line."""
    if not text:
        return ""
    return " ".join(CONTROL_CHARACTERS.sub(" ", text).split())
