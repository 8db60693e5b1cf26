"""Reading the JSON body of ``POST /api/fund/entries`` strictly: wrong types are one kind of
error (400), values that break a rule another (422). Nothing here touches the database."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from coop.fund.models import DONOR_NAME_MAX, DONOR_TOWN_MAX, SLUG_MAX, SOURCES
from coop.limits import CONTROL_CHARACTERS

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CONTROL_RE = CONTROL_CHARACTERS
#: longer integers are refused before Python converts them (over 4,300 digits it raises)
MAX_INT_DIGITS = 1000

ENTRY_FIELDS = ("amount_pence", "received_on", "source", "campaign", "donor_name",
                "donor_town", "may_thank")
REQUIRED = ("amount_pence", "received_on", "source")


class MalformedJSON(ValueError):
    pass


def _refuse_constant(name: str):
    raise MalformedJSON(f"{name} is not allowed in JSON")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedJSON(f"a number has more than {MAX_INT_DIGITS} digits")
    return int(text)


def parse_json(raw: bytes) -> Any:
    """Standard JSON only: no NaN or Infinity, UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJSON("it is not UTF-8") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int)
    except MalformedJSON:
        raise
    except json.JSONDecodeError as err:
        raise MalformedJSON(f"{err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise MalformedJSON("it is nested too deeply") from None


@dataclass
class EntryInput:
    amount_pence: int
    received_on: dt.date
    source: str
    campaign: str | None = None
    donor_name: str | None = None
    donor_town: str | None = None
    may_thank: bool = False


@dataclass
class Problems:
    #: wrong shape or type: answered with 400
    malformed: list[dict[str, str]] = field(default_factory=list)
    #: right type, value against a rule: answered with 422
    invalid: list[dict[str, str]] = field(default_factory=list)

    def bad(self, name: str, message: str) -> None:
        self.malformed.append({"field": name, "message": message})

    def wrong(self, name: str, message: str) -> None:
        self.invalid.append({"field": name, "message": message})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(body: dict, name: str, limit: int, problems: Problems) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.bad(name, "Must be a string or null.")
        return None
    value = " ".join(value.split())
    if CONTROL_RE.search(value):
        problems.wrong(name, "Must not contain control characters.")
        return None
    if len(value) > limit:
        problems.wrong(name, f"Use at most {limit} characters.")
        return None
    return value or None


def read_entry(body: Any) -> tuple[EntryInput | None, Problems]:
    """The entry described by ``body``, or None with the problems found (all of them)."""
    problems = Problems()
    if not isinstance(body, dict):
        problems.bad("body", "The body must be a JSON object.")
        return None, problems
    for name in sorted(set(body) - set(ENTRY_FIELDS)):
        problems.bad(str(name)[:100], "Unknown field.")
    for name in REQUIRED:
        if body.get(name) is None:
            problems.bad(name, "This field is required.")

    amount = body.get("amount_pence")
    if isinstance(amount, float) and amount.is_integer():
        amount = int(amount)  # JSON has one number type: 2500.0 is the integer 2500
    if amount is not None:
        if not _is_int(amount):
            problems.bad("amount_pence", "Must be a whole number of pence, e.g. 2500 for £25.")
        elif amount <= 0:
            problems.wrong("amount_pence", "Must be more than 0.")

    received_on = None
    value = body.get("received_on")
    if value is not None:
        if not isinstance(value, str):
            problems.bad("received_on", "Must be a date string, YYYY-MM-DD.")
        else:
            try:
                if not DATE_RE.match(value):
                    raise ValueError
                received_on = dt.date.fromisoformat(value)
            except ValueError:
                problems.wrong("received_on", "Must be a real date written YYYY-MM-DD.")

    source = body.get("source")
    if source is not None:
        if not isinstance(source, str):
            problems.bad("source", "Must be a string.")
        elif source not in SOURCES:
            problems.wrong("source", "Must be one of: " + ", ".join(SOURCES) + ".")

    campaign = body.get("campaign")
    if campaign is not None:
        if not isinstance(campaign, str):
            problems.bad("campaign", "Must be a campaign's slug (a string) or null.")
            campaign = None
        elif not campaign or len(campaign) > SLUG_MAX:
            problems.wrong("campaign", "There is no campaign with this slug.")
            campaign = None

    donor_name = _text(body, "donor_name", DONOR_NAME_MAX, problems)
    donor_town = _text(body, "donor_town", DONOR_TOWN_MAX, problems)

    may_thank = body.get("may_thank")
    if may_thank is not None and not isinstance(may_thank, bool):
        problems.bad("may_thank", "Must be true or false.")
    if may_thank and not donor_name:
        problems.wrong("may_thank", "Only a gift with a donor name can be thanked in print.")

    if problems.malformed or problems.invalid:
        return None, problems
    return EntryInput(
        amount_pence=amount,
        received_on=received_on,
        source=source,
        campaign=campaign,
        donor_name=donor_name,
        donor_town=donor_town,
        may_thank=bool(may_thank),
    ), problems
