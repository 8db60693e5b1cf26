"""The strict money parser and the money filter."""

from __future__ import annotations

import pytest

from coop.formatting import money, money_input
from coop.money import AmountError, parse_pence


@pytest.mark.parametrize("text,pence", [
    ("12", 1200), ("12.50", 1250), ("12.5", 1250), ("£12.50", 1250), ("1,000", 100_000),
    ("£1,000.00", 100_000), (" 7 ", 700), ("0.01", 1), ("1,234,567.89", 123_456_789),
    ("£ 25", 2500), ("£ 1,000.50", 100_050), ("£\u00a025", 2500),  # pasted with a space (QA)
])
def test_accepted_amounts(text, pence):
    assert parse_pence(text) == pence


@pytest.mark.parametrize("text", [
    "abc", "-5", "0", "0.00", "12.345", "1e3", "", "   ", "1,00", "12,", "£", "12.", ".5",
    "0x10", "1_000", "١٢", "12 50", "£-", "+5", "NaN", "Infinity", "12.5.0", "£  12",
    "£ -12", "- 12", "12 £",
])
def test_refused_amounts(text):
    with pytest.raises(AmountError):
        parse_pence(text)


def test_three_decimals_message():
    with pytest.raises(AmountError, match="two decimal places"):
        parse_pence("12.345")


def test_negative_only_when_allowed():
    assert parse_pence("-5", allow_negative=True) == -500
    assert parse_pence("-£5.25", allow_negative=True) == -525


def test_maximum():
    assert parse_pence("100,000", max_pence=10_000_000) == 10_000_000
    with pytest.raises(AmountError, match="£100,000"):
        parse_pence("100,000.01", max_pence=10_000_000)


def test_whole_pounds():
    assert parse_pence("250", whole_pounds=True) == 25_000
    with pytest.raises(AmountError, match="whole number"):
        parse_pence("250.50", whole_pounds=True)


@pytest.mark.parametrize("text", ["1e5", "lots", "1_000", "x" * 21, "٢٥٠"])
def test_unreadable_whole_pounds_get_a_whole_pounds_example(text):
    """A shares box (whole pounds) doesn't suggest "12.50", which it would then refuse."""
    with pytest.raises(AmountError) as refused:
        parse_pence(text, whole_pounds=True)
    assert str(refused.value) == "Enter a whole number of pounds, like 250."
    with pytest.raises(AmountError) as refused:
        parse_pence(text)
    assert str(refused.value) == "Enter an amount in pounds, like 12 or 12.50."
    with pytest.raises(AmountError, match="without pence"):
        parse_pence("250.505", whole_pounds=True)


@pytest.mark.parametrize("pence,text", [
    (657_200, "£6,572"), (1_142_800, "£11,428"), (1250, "£12.50"), (0, "£0"), (-500, "-£5"),
])
def test_money_filter(pence, text):
    assert money(pence) == text


@pytest.mark.parametrize("value", [12.5, "12", True, None])
def test_money_filter_refuses_non_integers(value):
    with pytest.raises(TypeError):
        money(value)


def test_money_input():
    assert money_input(1250) == "12.50" and money_input(1200) == "12" and money_input(-5) == "-0.05"


@pytest.mark.parametrize("text, options, message", [
    ("0", {"allow_negative": True}, "Enter an amount other than zero."),  # a correction
    ("-100", {"allow_zero": True}, "Enter an amount of zero or more."),  # a new total
    ("-5", {}, "Enter an amount greater than zero."),
    ("0", {}, "Enter an amount greater than zero."),
])
def test_the_message_says_what_the_box_takes(text, options, message):
    with pytest.raises(AmountError) as refused:
        parse_pence(text, **options)
    assert str(refused.value) == message


def test_a_typographic_minus_is_a_minus():
    assert parse_pence("\u22125", allow_negative=True) == -500
    assert parse_pence("\u2212£12.50", allow_negative=True) == -1250
