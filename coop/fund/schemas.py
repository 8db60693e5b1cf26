"""The fund API's payloads, one pydantic model each: they validate requests and are the
schemas of ``/api/openapi.json`` (JSON Schema 2020-12, OpenAPI 3.1's own dialect).

A wrong shape or type is answered 400; a value that breaks a rule 422 (see
:func:`read_new_entry`). The largest gift follows the config, so the document's ``maximum``
is filled in when it is served, and the rule itself is the ledger's
(:func:`coop.fund.services.check_entry`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from coop.fund.models import DONOR_NAME_MAX, DONOR_TOWN_MAX, SLUG_MAX, SOURCES, THANKS_NEED_A_NAME
from coop.limits import CONTROL_CHARACTERS, without_direction_controls

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CONTROL_RE = CONTROL_CHARACTERS
Source = Literal[SOURCES]  # type: ignore[valid-type]


def _rule(message: str) -> PydanticCustomError:
    """A value against a rule: answered 422 (anything else pydantic finds is 400)."""
    return PydanticCustomError("rule", message)


def _text(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = " ".join(without_direction_controls(value).split())  # invisible reordering
    if CONTROL_RE.search(value):
        raise _rule("Must not contain control characters.")
    if len(value) > limit:
        raise _rule(f"Use at most {limit} characters.")
    return value or None


#: one line of text, as documented: no control characters (NUL is refused for every route
#: with 400, the rest by the API's rules with 422; see coop/limits.py)
ONE_LINE = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"

class NewFundEntry(BaseModel):
    """The body of ``POST /api/fund/entries``."""

    model_config = ConfigDict(extra="forbid", title="NewFundEntry")

    amount_pence: Annotated[StrictInt, Field(
        ge=1, description="Integer pence, more than 0 (the maximum is the largest gift "
                          "accepted).")]
    received_on: Annotated[StrictStr, Field(
        json_schema_extra={"format": "date"},
        description="The Europe/London day the money arrived, YYYY-MM-DD; within the "
                    "campaign and not in the future.")]
    source: Annotated[Source, Field(description="Where the money came from.")]
    campaign: Annotated[StrictStr | None, Field(
        default=None, min_length=1, max_length=SLUG_MAX, json_schema_extra={"pattern": ONE_LINE},
        description="A campaign's slug; the current campaign when left out.")]
    donor_name: Annotated[StrictStr | None, Field(
        default=None, json_schema_extra={"maxLength": DONOR_NAME_MAX, "pattern": ONE_LINE},
        description="As it should be printed, e.g. J. Smith.")]
    donor_town: Annotated[StrictStr | None, Field(
        default=None, json_schema_extra={"maxLength": DONOR_TOWN_MAX, "pattern": ONE_LINE})]
    may_thank: Annotated[StrictBool, Field(
        default=False, description="The donor agreed to be thanked by name in print; needs "
                                   "donor_name. The name is thanked in public once staff "
                                   "have read it (\"Names to check\" on /staff/fund).")]

    @field_validator("received_on")
    @classmethod
    def _real_date(cls, value: str) -> str:
        try:
            if not DATE_RE.match(value):
                raise ValueError
            dt.date.fromisoformat(value)
        except ValueError:
            raise _rule("Must be a real date written YYYY-MM-DD.") from None
        return value

    @field_validator("campaign", mode="before")
    @classmethod
    def _slug(cls, value: Any) -> Any:
        if isinstance(value, str) and not 0 < len(value) <= SLUG_MAX:
            raise _rule("There is no campaign with this slug.")
        return value

    @field_validator("donor_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _text(value, DONOR_NAME_MAX)

    @field_validator("donor_town")
    @classmethod
    def _town(cls, value: str | None) -> str | None:
        return _text(value, DONOR_TOWN_MAX)

    @field_validator("may_thank")
    @classmethod
    def _thanks_need_a_name(cls, value: bool, info: ValidationInfo) -> bool:
        # donor_name is checked before; missing from info.data when it was refused, and then
        # its own error says what is wrong (QA saw both for a name that was too long)
        if value and "donor_name" in info.data and not info.data["donor_name"]:
            raise _rule(THANKS_NEED_A_NAME)
        return value

    @property
    def received_day(self) -> dt.date:
        return dt.date.fromisoformat(self.received_on)


class FundFigures(BaseModel):
    """A campaign's public figures: exactly the fields of ``GET /api/fund``."""

    model_config = ConfigDict(title="FundFigures")

    slug: str
    name: str
    currency: Literal["GBP"]
    raised_pence: int
    target_pence: int
    remaining_pence: int
    percent: float = Field(description="raised / target × 100, rounded down to one decimal")
    days_remaining: int
    opens_on: dt.date
    deadline: dt.date
    status: Literal["upcoming", "open", "closed"]
    target_met: bool
    updated_at: dt.datetime


class FundEntry(BaseModel):
    model_config = ConfigDict(title="FundEntry")

    id: int
    campaign: str = Field(description="The campaign's slug.")
    amount_pence: int
    received_on: dt.date
    source: Source
    donor_name: str | None
    donor_town: str | None
    may_thank: bool
    via: str = Field(description="api:<token name>")
    created_at: dt.datetime


class FundEntryCreated(BaseModel):
    model_config = ConfigDict(title="FundEntryCreated")

    entry: FundEntry
    campaign: FundFigures


class Error(BaseModel):
    model_config = ConfigDict(title="Error")

    error: str
    message: str


class FieldError(BaseModel):
    field: str
    message: str


class ValidationErrorBody(BaseModel):
    model_config = ConfigDict(title="ValidationError")

    error: str
    message: str
    errors: list[FieldError]


#: every schema of the document, by name
SCHEMAS = (NewFundEntry, FundFigures, FundEntry, FundEntryCreated, Error, ValidationErrorBody)

# ---------------------------------------------------------------------------------------------
# Reading a request

TYPE_MESSAGES = {
    "amount_pence": "Must be a whole number of pence, e.g. 2500 for £25.",
    "received_on": "Must be a date string, YYYY-MM-DD.",
    "source": "Must be a string.",
    "campaign": "Must be a campaign's slug (a string) or null.",
    "donor_name": "Must be a string or null.",
    "donor_town": "Must be a string or null.",
    "may_thank": "Must be true or false.",
}


class EntryProblems(Exception):
    """What was wrong with a body: ``malformed`` (400) and ``invalid`` (422) field errors."""

    def __init__(self, malformed: list[dict], invalid: list[dict]):
        super().__init__("the entry was refused")
        self.malformed = malformed
        self.invalid = invalid


def read_new_entry(body: Any) -> NewFundEntry:
    """The entry ``body`` describes.

    :raise EntryProblems: listing every problem found at once.
    """
    if not isinstance(body, dict):
        raise EntryProblems([{"field": "body", "message": "The body must be a JSON object."}],
                            [])
    amount = body.get("amount_pence")
    if isinstance(amount, float) and amount.is_integer():
        # JSON has one number type: 2500.0 is the integer 2500
        body = {**body, "amount_pence": int(amount)}
    try:
        return NewFundEntry.model_validate(body)
    except ValidationError as err:
        malformed: dict[str, str] = {}
        invalid: dict[str, str] = {}
        for problem in err.errors():
            where = [str(part) for part in problem["loc"] if not isinstance(part, int)]
            field = where[0][:100] if where else "body"
            kind = problem["type"]
            if kind == "rule":
                invalid.setdefault(field, problem["msg"])
            elif kind == "literal_error" and isinstance(problem["input"], str):
                invalid.setdefault(field, "Must be one of: " + ", ".join(SOURCES) + ".")
            elif kind == "greater_than_equal":
                invalid.setdefault(field, "Must be more than 0.")
            elif kind == "missing":
                malformed.setdefault(field, "This field is required.")
            elif kind == "extra_forbidden":
                malformed.setdefault(field, "Unknown field.")
            else:  # a wrong type
                malformed.setdefault(field, TYPE_MESSAGES.get(field, "Not accepted."))
        raise EntryProblems([{"field": f, "message": m} for f, m in malformed.items()],
                            [{"field": f, "message": m} for f, m in invalid.items()]) from None
