"""Property-based tests (hypothesis): the money parser, the fund's percentage and countdown rules
and the share amount rules hold for every input, not just the examples someone thought of."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from coop.formatting import LONDON, money, money_input
from coop.fund import figures
from coop.money import MAX_PENCE, AmountError, parse_pence

PENCE = st.integers(min_value=1, max_value=MAX_PENCE)
#: what people type: 12 | 12.5 | 12.50 | £12.50 | 1,000 | £1,000.00
HUMAN = re.compile(r"£?(\d{1,3}(,\d{3})+|\d+)(\.\d{1,2})?", re.ASCII)


# --- coop.money.parse_pence ----------------------------------------------------------------

@given(PENCE)
def test_money_input_round_trips(pence):
    assert parse_pence(money_input(pence)) == pence


@given(st.integers(min_value=-MAX_PENCE, max_value=MAX_PENCE).filter(bool))
def test_negative_amounts_round_trip_where_allowed(pence):
    assert parse_pence(money_input(pence), allow_negative=True) == pence
    if pence < 0:
        with pytest.raises(AmountError):
            parse_pence(money_input(pence))


@given(st.integers(min_value=MAX_PENCE + 1, max_value=10**17))
def test_amounts_beyond_the_bound_are_refused_with_the_bound(pence):
    for text in (money_input(pence), money_input(-pence)):
        with pytest.raises(AmountError, match="at most £10,000,000"):
            parse_pence(text, allow_negative=True)


@given(PENCE)
def test_the_displayed_amount_parses_back(pence):
    """What the site shows (``£6,592``, ``£12.50``) is accepted when typed back."""
    assert parse_pence(money(pence)) == pence
    assert parse_pence(f"  {money(pence, always_pence=True)} ") == pence


@given(st.text(max_size=30))
@example("£١٢")  # Arabic-Indic digits: int() and Decimal() take them, people here don't type them
@example("£１２")  # full-width digits
@example("12.٥")
def test_anything_accepted_looks_like_money_and_means_what_it_says(text):
    """Every accepted text is of a shape people type, and its value is exactly the decimal one."""
    try:
        pence = parse_pence(text, allow_negative=True)
    except AmountError:
        return
    core = text.strip().replace("-", "", 1)
    assert HUMAN.fullmatch(core), f"accepted {text!r}"
    value = Decimal(core.replace("£", "").replace(",", "")) * 100
    assert pence == abs(int(value)) * (-1 if "-" in text else 1)


def _decimal_or_int_takes(text: str) -> bool:
    for convert in (Decimal, int, float):
        try:
            convert(text)
        except (InvalidOperation, ValueError):
            continue
        return True
    return False


#: what Decimal/int/float accept but people don't type as an amount of money
ODD = st.one_of(
    st.sampled_from(["1e3", "1E3", "12_000", "0x10", "NaN", "Infinity", "-inf", "+12", ".5",
                     "12.", "12.345", "1 000", "\u0661\u0662", "\uff11\uff12", "12\u00a0",
                     "0012.5e0", "£١٢", "£１２", "-£１", "£12.٥", "1,00", "1,0000", "12,50",
                     "٣", "𝟏𝟐"]),
    st.builds(lambda a, e: f"{a}e{e}", st.integers(1, 999), st.integers(-5, 5)),
    st.builds(lambda a, b: f"{a}_{b}", st.integers(1, 99), st.integers(100, 999)),
    st.builds(lambda a, d: f"{a}.{d}", st.integers(0, 999), st.integers(100, 99999)),
    st.text(alphabet="0123456789٠١٢٣٤٥٦٧٨٩０１２３４５６７８９.,_eE+-", min_size=1, max_size=12),
)


@given(ODD)
def test_refuses_what_decimal_takes_but_people_do_not_type(text):
    assume(_decimal_or_int_takes(text) and not HUMAN.fullmatch(text.strip().lstrip("-")))
    with pytest.raises(AmountError):
        parse_pence(text, allow_negative=True)


@given(st.text(max_size=40), st.integers(min_value=1, max_value=10**9), st.booleans())
def test_limits_and_whole_pounds_always_hold(text, limit, whole):
    """Only AmountError ever escapes, and whatever is accepted keeps to the options given."""
    try:
        pence = parse_pence(text, max_pence=limit, whole_pounds=whole)
    except AmountError as err:
        assert str(err)
        return
    assert isinstance(pence, int) and not isinstance(pence, bool)
    assert 0 < pence <= limit
    assert not whole or pence % 100 == 0


# --- the fund's figures ---------------------------------------------------------------------

TARGET = st.integers(min_value=1, max_value=10**10)
RAISED = st.integers(min_value=-(10**10), max_value=3 * 10**10)


@given(RAISED, TARGET)
@example(1_799_999, 1_800_000)
@example(657_200, 1_800_000)
def test_percent_rounds_down_to_a_tenth(raised, target):
    shown = figures.percent(raised, target)
    exact = Decimal(max(raised, 0)) * 100 / Decimal(target)
    assert Decimal(str(shown)) <= exact
    assert exact - Decimal(str(shown)) < Decimal("0.1")
    assert shown * 10 == int(shown * 10)


@given(RAISED, TARGET)
def test_never_100_percent_before_the_target(raised, target):
    shown = figures.percent(raised, target)
    if raised < target:
        assert shown < 100
        assert not figures.format_percent(raised, target).startswith("100%")
        assert not figures.target_met(raised, target)
    else:
        assert shown >= 100
        assert figures.target_met(raised, target)


@given(RAISED, TARGET)
def test_bar_is_min_of_percent_and_100(raised, target):
    bar = figures.bar_percent(raised, target)
    assert bar == min(figures.percent(raised, target), 100.0)
    assert 0 <= bar <= 100


@given(RAISED, RAISED, TARGET)
def test_percent_never_falls_as_more_is_raised(a, b, target):
    low, high = sorted((a, b))
    assert figures.percent(low, target) <= figures.percent(high, target)
    assert figures.remaining(low, target) >= figures.remaining(high, target) >= 0


DAYS = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31))


@given(DAYS, DAYS, DAYS)
def test_days_remaining_is_monotonic_and_never_negative(deadline, day1, day2):
    early, late = sorted((day1, day2))
    assert figures.days_remaining(deadline, early) >= figures.days_remaining(deadline, late) >= 0
    if early <= deadline:
        assert figures.days_remaining(deadline, early) == (deadline - early).days


@given(DAYS, st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                          timezones=st.just(dt.UTC)),
       st.integers(min_value=0, max_value=10**6))
def test_hours_left_never_rise_as_time_passes(deadline, now, seconds_later):
    later = now + dt.timedelta(seconds=seconds_later)
    assert figures.hours_left(deadline, now) >= figures.hours_left(deadline, later) >= 0


NOW = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                   timezones=st.just(dt.UTC))


@given(DAYS, st.integers(0, 120), NOW, RAISED.filter(lambda r: r >= 0), TARGET)
def test_countdown_text_agrees_with_status(opens_on, length, now, raised, target):
    deadline = opens_on + dt.timedelta(days=length)
    text = figures.countdown_text(opens_on=opens_on, deadline=deadline, now=now,
                                  raised_pence=raised, target_pence=target)
    today = now.astimezone(LONDON).date()
    if today > deadline:
        assert text.startswith("Fund closed")
    elif today < opens_on:
        assert text.startswith("Opens on")
    elif today == deadline:
        assert text.startswith("Last day")
    else:
        assert text.endswith("remaining")
        assert str((deadline - today).days) in text


# --- share and supporter amounts --------------------------------------------------------------

AMOUNT_TEXT = st.one_of(
    st.integers(min_value=-1000, max_value=200_000).map(str),
    st.builds(lambda p, d: f"{p}.{d:02d}", st.integers(0, 200_000), st.integers(0, 99)),
    st.builds(lambda p: f"£{p:,}", st.integers(0, 200_000)),
    st.text(max_size=15),
)


@pytest.fixture(scope="module")
def shares_app(tmp_path_factory):
    from coop import create_app

    return create_app({"COOP_ENV": "testing", "WTF_CSRF_ENABLED": False,
                       "SQLALCHEMY_DATABASE_URI": "sqlite://",
                       "MAIL_OUTBOX": str(tmp_path_factory.mktemp("outbox"))})


def _amount_errors(app, form_name: str, text: str):
    from werkzeug.datastructures import MultiDict

    from coop.shares import forms

    with app.test_request_context(method="POST"):
        form = getattr(forms, form_name)(formdata=MultiDict({"amount": text}))
        form.validate()
        return form.amount.errors, form.amount.pence, app.config


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=AMOUNT_TEXT)
def test_share_amounts_are_whole_pounds_within_the_limits(shares_app, text):
    errors, pence, config = _amount_errors(shares_app, "ShareEnquiryForm", text)
    if errors:
        return
    assert pence % 100 == 0
    assert config["SHARES_MIN_POUNDS"] * 100 <= pence <= config["SHARES_MAX_POUNDS"] * 100


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=AMOUNT_TEXT)
def test_supporter_amounts_are_within_the_limits(shares_app, text):
    errors, pence, config = _amount_errors(shares_app, "SupportForm", text)
    if errors:
        return
    assert config["SUPPORT_MIN_POUNDS"] * 100 <= pence <= config["SUPPORT_MAX_POUNDS"] * 100


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(min_value=-(10**6), max_value=10**8),
       kind=st.sampled_from(["shares", "supporter"]))
def test_the_share_service_enforces_the_amount_rules(db, amount, kind):
    """The service refuses exactly what the rules refuse; what it saves, the database takes."""
    from coop.shares import services

    contact = services.Contact(name="Ada Reader", email="ada@example.org",
                               address="1 High Street\nLondon", postcode="SW1A 1AA")
    low, high = 100, 10_000_000
    allowed = low <= amount <= high and (kind == "supporter" or amount % 100 == 0)
    try:
        enquiry = services.submit(db.session, kind, contact, amount, frequency="one_off"
                                  if kind == "supporter" else None,
                                  payment_method="cheque" if kind == "shares" else None,
                                  min_pence=low, max_pence=high)
    except services.EnquiryError:
        assert not allowed
    else:
        assert allowed
        assert enquiry.amount_pence == amount and enquiry.reference
    finally:
        db.session.rollback()
