"""Strict parsing of money typed by people: integer pence out, or a clear error."""

from __future__ import annotations

import re
from decimal import Decimal

from wtforms import StringField, ValidationError

# 12 | 12.50 | 12.5 | £12.50 | £ 12.50 | 1,000 | £1,000.00 ; an optional leading minus where
# allowed. One space after the £ is taken (it is how a pasted "£ 25" comes); none elsewhere.
_AMOUNT = re.compile(
    r"^(?P<sign>-?)(?:£ ?)?(?P<sign2>-?)"
    r"(?P<pounds>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<pence>\d{1,2}))?$",
    re.ASCII,  # \d is 0-9 only: "£١٢" and "£１２" are not amounts people type here
)


#: the most any money column holds: they are ``integer`` (32-bit) on PostgreSQL
PENCE_COLUMN_MAX = 2**31 - 1
#: the largest amount anyone may enter anywhere (a target, a gift, a correction, a total, an
#: enquiry): £10 million, well inside a column, so sums of a few still fit
MAX_PENCE = 1_000_000_000


def pounds(pence: int) -> Decimal:
    """Exact pounds for a spreadsheet cell: ``-100000`` → ``Decimal('-1000.00')``."""
    return Decimal(pence).scaleb(-2)


def pence_problem(value: int, what: str = "The amount") -> str | None:
    """The message for an amount beyond :data:`MAX_PENCE` either way, or None."""
    if abs(value) > MAX_PENCE:
        from coop.formatting import money

        return f"{what} can be at most {money(MAX_PENCE)}."
    return None


class AmountError(ValueError):
    """The text is not an amount we accept; ``str(err)`` is the message for the reader."""


def parse_pence(
    text: str | None,
    *,
    allow_negative: bool = False,
    allow_zero: bool = False,
    max_pence: int | None = None,
    whole_pounds: bool = False,
) -> int:
    """``"£1,000.50"`` → ``100050``.

    Accepts ``12``, ``12.50``, ``£12.50``, ``£ 12.50``, ``1,000``, ``£1,000.00`` (and ``-`` in front
    when ``allow_negative``); refuses everything else, including ``1e3``, ``12.345``,
    ``0x10``, ``١٢`` and ``12_000`` that ``Decimal`` or ``int`` would take.
    """
    # a typographic minus is a minus; a no-break space (pasted "£ 25") a space
    raw = (text or "").replace("\u00a0", " ").strip().replace("\u2212", "-")
    if not raw:
        raise AmountError("Enter an amount.")
    # a field that takes whole pounds shows an example it would take
    unreadable = ("Enter a whole number of pounds, like 250." if whole_pounds
                  else "Enter an amount in pounds, like 12 or 12.50.")
    if len(raw) > 20 or not raw.isascii() and "£" not in raw:
        raise AmountError(unreadable)
    match = _AMOUNT.match(raw)
    if not match or (match["sign"] and match["sign2"]):
        if re.fullmatch(r"-?£?-?\d+\.\d{3,}", raw):
            raise AmountError("Enter a whole number of pounds, without pence." if whole_pounds
                              else "Amounts can have at most two decimal places (pence).")
        raise AmountError(unreadable)
    negative = bool(match["sign"] or match["sign2"])
    pounds = int(match["pounds"].replace(",", ""))
    pence_text = match["pence"] or ""
    pence = int(pence_text.ljust(2, "0")) if pence_text else 0
    if whole_pounds and pence:
        raise AmountError("Enter a whole number of pounds, without pence.")
    value = pounds * 100 + pence
    if negative:
        if not allow_negative:
            raise AmountError("Enter an amount of zero or more." if allow_zero
                              else "Enter an amount greater than zero.")
        value = -value
    if value == 0 and not allow_zero:
        raise AmountError("Enter an amount other than zero." if allow_negative
                          else "Enter an amount greater than zero.")
    if max_pence is not None and max_pence < MAX_PENCE and abs(value) > max_pence:
        from coop.formatting import money

        raise AmountError(f"The most we accept in one go is {money(max_pence)}.")
    problem = pence_problem(value, "An amount")
    if problem:
        raise AmountError(problem)
    return value


class AmountField(StringField):
    """A text field that parses to integer pence in ``.pence`` and keeps what was typed.

    Options mirror :func:`parse_pence`; ``max_pence`` may be a callable so it can read
    the app config at validation time.
    """

    def __init__(self, label=None, validators=None, *, allow_negative=False, allow_zero=False,
                 max_pence=None, whole_pounds=False, **kwargs):
        kwargs.setdefault("render_kw", {}).setdefault("inputmode", "decimal")
        super().__init__(label, validators, **kwargs)
        self.allow_negative = allow_negative
        self.allow_zero = allow_zero
        self.max_pence = max_pence
        self.whole_pounds = whole_pounds
        self.pence: int | None = None

    def pre_validate(self, form):
        self.pence = None
        limit = self.max_pence() if callable(self.max_pence) else self.max_pence
        try:
            self.pence = parse_pence(
                self.data,
                allow_negative=self.allow_negative,
                allow_zero=self.allow_zero,
                max_pence=limit,
                whole_pounds=self.whole_pounds,
            )
        except AmountError as err:
            raise ValidationError(str(err)) from None
