"""Register rules without HTTP: numbers, holdings, transfers, cessation, bad input, audit,
verification, accounts."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from coop.audit import AuditEvent
from coop.config import ConfigError
from coop.register import services
from coop.register.models import AddressChange, Counter, Member, ShareTransaction
from tests.register.conftest import ADMITTED, get_member, london_today

ON = dt.date(2024, 5, 1)


def _admit(db, **kwargs):
    values = dict(name="Ann Reader", email="ann@example.org",
                  address="1 Printers' Row\nLondon", shares=100, on=ADMITTED, by=None)
    values.update(kwargs)
    return services.admit(db.session, **values)


def _count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_admit_gives_the_next_number_and_an_allotment_with_its_member(db, make_user):
    staff = make_user("staff")
    first = _admit(db, by=staff)
    second = _admit(db, name="Bob", email="BOB@Example.org ")
    db.session.commit()
    assert isinstance(first, services.Allotment)
    assert (first.member.number, second.member.number) == (1, 2)
    assert first.kind == "allotment" and first.shares == 100 and first.balance_after == 100
    assert first.member.shares_held == 100 and first.member.transaction_count == 1
    assert first.by_id == staff.id
    assert second.member.email == "bob@example.org"
    assert second.member.admitted_on == ADMITTED and second.member.ceased_on is None
    actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions.count("register.admitted") == 2
    assert [a.address for a in services.address_history(db.session, first.member)] == [
        "1 Printers' Row\nLondon"]
    assert services.verify_register(db.session) == []


def test_numbers_are_never_reused_even_after_cessation(db):
    first = _admit(db).member
    services.cease(db.session, first, on=ON, by=None, expected_shares=100)
    db.session.commit()
    assert _admit(db, email="c@example.org").member.number == 2


def test_a_rolled_back_admission_gives_its_number_back(db):
    _admit(db)
    db.session.commit()
    _admit(db, email="x@example.org")
    db.session.rollback()
    assert _admit(db, email="y@example.org").member.number == 2


def test_a_lost_counter_row_is_rebuilt_from_the_highest_number(db):
    _admit(db)
    _admit(db, email="b@example.org")
    db.session.execute(sa.delete(Counter))
    assert _admit(db, email="c@example.org").member.number == 3


def test_admit_to_an_existing_member_adds_to_their_holding(db):
    member = _admit(db).member
    line = services.admit(db.session, name="ignored", email="ignored@example.org",
                          address="2 New Street\nLeeds", shares=50, on=ON, by=None,
                          member=member, enquiry_id=None)
    assert line.member is member and member.shares_held == 150 and member.number == 1
    assert member.address == "2 New Street\nLeeds"
    assert _count(db, Member) == 1
    assert len(services.address_history(db.session, member)) == 2


def test_admit_links_an_existing_account_by_email(db, make_user):
    user = make_user("member", email="reader@example.org")
    member = _admit(db, email="Reader@Example.org").member
    assert member.user_id == user.id
    assert services.member_for_user(db.session, user) is member
    # a second member with the same email doesn't steal the link
    again = _admit(db, email="reader@example.org", name="Same Email").member
    assert again.user_id is None


def test_admit_without_an_account_creates_one_and_invites(db, outbox):
    from coop.accounts.services import get_by_email

    member = _admit(db, email="new.reader@example.org").member
    user = get_by_email(db.session, "new.reader@example.org")
    assert user is not None and member.user_id == user.id
    assert user.role == "member"
    db.session.commit()
    [invitation] = [m for m in outbox() if m["To"] == "new.reader@example.org"]
    assert "/welcome/" in invitation.get_content()


def test_invite_false_creates_no_account(db):
    from coop.accounts.services import get_by_email

    _admit(db, email="demo@example.org", invite=False)
    assert get_by_email(db.session, "demo@example.org") is None


@pytest.mark.parametrize(("values", "field", "words"), [
    ({"shares": 0}, "shares", "greater than zero"),
    ({"shares": -5}, "shares", "greater than zero"),
    ({"shares": 2.5}, "shares", "whole number"),
    ({"shares": True}, "shares", "whole number"),
    ({"shares": "10"}, "shares", "whole number"),
    ({"shares": 100_001}, "shares", "100,000"),
    ({"name": ""}, "name", "Enter the name"),
    ({"name": "   "}, "name", "Enter the name"),
    ({"name": "A" * 201}, "name", "at most 200"),
    ({"name": "<script>alert(1)</script>"}, "name", "< or >"),
    ({"name": "Ann\x00Reader"}, "name", "control characters"),
    ({"name": "Ann\u202eReader"}, "name", "control characters"),
    ({"address": "x" * 501}, "address", "at most 500"),
    ({"address": "<b>1 Road</b>"}, "address", "< or >"),
    ({"address": ""}, "address", "Enter the postal address"),
    ({"email": "not-an-email"}, "email", "like name@example.org"),
    ({"email": "a@b.org\r\nBcc: x@y.org"}, "email", "like name@example.org"),
    ({"email": "a" * 250 + "@b.org"}, "email", "at most 254"),
    ({"on": dt.date(1900, 1, 1)}, "on", "before the society was founded"),
    ({"on": dt.date.today() + dt.timedelta(days=2)}, "on", "future"),
    ({"on": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "on", "as a date"),
])
def test_admit_refuses_bad_input_with_the_field_named_and_writes_nothing(db, values, field,
                                                                         words):
    with pytest.raises(services.RegisterError) as caught:
        _admit(db, **values)
    assert caught.value.field == field
    assert words in caught.value.message
    db.session.rollback()
    assert _count(db, Member) == 0 and _count(db, ShareTransaction) == 0
    assert _count(db, AuditEvent) == 0
    assert _admit(db).member.number == 1  # no number was used up


def test_names_and_addresses_are_tidied(db):
    member = _admit(db, name="  Ann   Reader ", address=" 1  Road \r\n\r\n  Town  ").member
    assert member.name == "Ann Reader" and member.address == "1 Road\nTown"


def test_holding_settings_apply(make_app):
    app = make_app(SHARES_MIN_HOLDING=10, SHARES_MAX_HOLDING=500)
    from coop.extensions import db

    with app.app_context():
        with pytest.raises(services.HoldingRule, match="at least 10 shares"):
            _admit(db, shares=9)
        member = _admit(db, shares=10).member
        with pytest.raises(services.HoldingRule, match="above the maximum holding of 500"):
            services.allot(db.session, member, 491, on=ON, by=None)
        services.allot(db.session, member, 490, on=ON, by=None)
        assert member.shares_held == 500
        with pytest.raises(services.HoldingRule, match="below the minimum holding of 10"):
            services.withdraw(db.session, member, 491, on=ON, by=None)
        services.withdraw(db.session, member, 490, on=ON, by=None)
        assert member.shares_held == 10
        db.session.rollback()


@pytest.mark.parametrize("settings", [
    {"SHARES_MAX_HOLDING": 100_001}, {"SHARES_MIN_HOLDING": 0},
    {"SHARES_MIN_HOLDING": 50, "SHARES_MAX_HOLDING": 10}, {"SHARES_MIN_HOLDING": "many"},
    {"SOCIETY_FOUNDED": "the forties"},
])
def test_impossible_settings_stop_the_app(make_app, settings):
    with pytest.raises(ConfigError):
        make_app(**settings)


def test_founding_day_setting(make_app):
    app = make_app(SOCIETY_FOUNDED="2021-01-01")
    from coop.extensions import db

    with app.app_context(), pytest.raises(services.InvalidValue, match="1 January 2021"):
        _admit(db, on=dt.date(2020, 12, 31))


def test_withdraw_never_takes_a_holding_below_the_minimum_or_zero(db):
    member = _admit(db, shares=10).member
    with pytest.raises(services.HoldingRule, match="To take every share, cease"):
        services.withdraw(db.session, member, 10, on=ON, by=None)
    with pytest.raises(services.HoldingRule, match="below zero"):
        services.withdraw(db.session, member, 11, on=ON, by=None)
    line = services.withdraw(db.session, member, 9, on=ON, by=None)
    assert line.shares == -9 and line.balance_after == 1 and member.shares_held == 1


def test_dates_before_admission_are_refused(db):
    member = _admit(db).member
    for action in (services.allot, services.withdraw):
        with pytest.raises(services.InvalidValue, match="before the member was admitted"):
            action(db.session, member, 1, on=ADMITTED - dt.timedelta(days=1), by=None)


def test_transfer_moves_shares_as_two_lines(db):
    a = _admit(db, shares=100).member
    b = _admit(db, email="b@example.org", shares=5).member
    out, into = services.transfer(db.session, a, b, 30, on=ON, by=None, note="Gift")
    assert (a.shares_held, b.shares_held) == (70, 35)
    assert (out.kind, out.shares, out.counterpart_id) == ("transfer_out", -30, b.id)
    assert (into.kind, into.shares, into.counterpart_id) == ("transfer_in", 30, a.id)
    assert services.verify_register(db.session) == []


def test_transfer_refusals(db):
    a = _admit(db, shares=10).member
    b = _admit(db, email="b@example.org", shares=5).member
    db.session.commit()
    with pytest.raises(services.InvalidValue, match="themselves"):
        services.transfer(db.session, a, a, 1, on=ON, by=None)
    with pytest.raises(services.HoldingRule, match="below zero"):
        services.transfer(db.session, a, b, 11, on=ON, by=None)
    with pytest.raises(services.HoldingRule, match="minimum"):
        services.transfer(db.session, a, b, 10, on=ON, by=None)
    with pytest.raises(services.NoSuchMember):
        services.transfer(db.session, a, None, 1, on=ON, by=None)
    db.session.rollback()
    a, b = get_member(1), get_member(2)
    services.cease(db.session, b, on=ON, by=None, expected_shares=5)
    with pytest.raises(services.MemberCeased) as caught:
        services.transfer(db.session, a, b, 1, on=ON, by=None)
    assert caught.value.field == "to_number"
    db.session.rollback()
    assert (get_member(1).shares_held, get_member(2).shares_held) == (10, 5)
    assert _count(db, ShareTransaction) == 2


def test_transfer_of_the_whole_holding_can_cease_the_giver(db):
    a = _admit(db, shares=10).member
    b = _admit(db, email="b@example.org", shares=5).member
    db.session.commit()
    with pytest.raises(services.HoldingRule, match="whole holding"):
        services.transfer(db.session, a, b, 9, on=ON, by=None, cease_source=True)
    db.session.rollback()
    a, b = get_member(1), get_member(2)
    services.transfer(db.session, a, b, 10, on=ON, by=None, cease_source=True)
    assert a.shares_held == 0 and a.ceased_on == ON and b.shares_held == 15
    assert services.verify_register(db.session) == []


def test_cease_withdraws_everything_and_freezes_the_holding(db):
    member = _admit(db, shares=40).member
    line = services.cease(db.session, member, on=ON, by=None, expected_shares=40)
    assert line.kind == "withdrawal" and line.shares == -40 and line.balance_after == 0
    assert member.ceased_on == ON and member.shares_held == 0
    with pytest.raises(services.MemberCeased):
        services.allot(db.session, member, 1, on=ON, by=None)
    with pytest.raises(services.MemberCeased):
        services.cease(db.session, member, on=ON, by=None, expected_shares=0)
    db.session.commit()
    assert db.session.get(Member, member.id) is not None  # never deleted


def test_cease_is_guarded_by_the_holding_the_form_showed(db):
    member = _admit(db, shares=40).member
    services.allot(db.session, member, 5, on=ON, by=None)
    db.session.commit()
    with pytest.raises(services.HoldingChanged, match="now 45 shares"):
        services.cease(db.session, member, on=ON, by=None, expected_shares=40)
    db.session.rollback()
    member = get_member(1)
    assert member.ceased_on is None and member.shares_held == 45


def test_cease_date_not_before_the_last_transaction(db):
    member = _admit(db).member
    services.allot(db.session, member, 5, on=ON, by=None)
    with pytest.raises(services.InvalidValue, match="last share transaction"):
        services.cease(db.session, member, on=ON - dt.timedelta(days=1), by=None,
                       expected_shares=105)


def test_the_database_refuses_a_negative_holding_or_a_bad_line(db):
    member = _admit(db).member
    db.session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(Member).values(shares_held=-1))
    db.session.rollback()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.insert(ShareTransaction).values(
            member_id=member.id, kind="withdrawal", shares=5, balance_after=0,
            effective_on=ON, note="", created_at=dt.datetime.now(dt.UTC)))
    db.session.rollback()


def test_address_changes_keep_a_history(db, make_user):
    staff = make_user("staff")
    member = _admit(db).member
    assert services.change_address(db.session, member, "1 Printers' Row\nLondon",
                                   by=staff) is None
    services.change_address(db.session, member, "9 Elm Road\nYork", by=staff)
    services.change_address(db.session, member, "10 Elm Road\nYork", by=None, source="member")
    history = services.address_history(db.session, member)
    assert [h.address for h in history] == ["10 Elm Road\nYork", "9 Elm Road\nYork",
                                           "1 Printers' Row\nLondon"]
    assert [h.source for h in history] == ["member", "staff", "admission"]
    with pytest.raises(services.InvalidValue):
        services.change_address(db.session, member, "<i>x</i>", by=None)
    assert _count(db, AddressChange) == 3


def test_find_member_by_email_matches_current_members_only(db):
    old = _admit(db, email="same@example.org").member
    services.cease(db.session, old, on=ON, by=None, expected_shares=100)
    assert services.find_member_by_email(db.session, "same@example.org") is None
    with pytest.raises(services.MemberCeased, match="admit them again"):
        services.admit(db.session, name="x", email="same@example.org", address="2 Road",
                       shares=5, on=ON, by=None, member=old)
    assert old.address == "1 Printers' Row\nLondon"  # nothing changed before the refusal
    new = _admit(db, email="same@example.org", name="Again").member
    assert new.number == 2
    assert services.find_member_by_email(db.session, " SAME@example.org") is new
    assert services.find_member_by_email(db.session, "nobody@example.org") is None
    assert services.find_member_by_email(db.session, "") is None


def test_get_by_number_and_search(db):
    _admit(db, name="Zoë Brown", email="zoe@example.org")
    member = _admit(db, name="Kwame Mensah", email="kwame@example.org").member
    services.cease(db.session, member, on=ON, by=None, expected_shares=100)
    assert services.get_by_number(db.session, "000002") is member
    assert services.get_by_number(db.session, "#2") is member
    for bad in ("", "0", "-1", "2.0", "٢", "9" * 40, "99999999999", 2**31, None):
        assert services.get_by_number(db.session, bad) is None

    def names(q, status="all"):
        return [m.name for m in db.session.scalars(services.search_statement(q, status))]

    assert names("zo") == ["Zoë Brown"]
    assert names("KWAME@") == ["Kwame Mensah"]
    assert names("2") == ["Kwame Mensah"]
    assert names("", "current") == ["Zoë Brown"]
    assert names("", "ceased") == ["Kwame Mensah"]
    assert names("%") == [] and names("_") == []


def test_verify_register_finds_a_tampered_holding(db, runner):
    member = _admit(db).member
    db.session.commit()
    assert services.verify_register(db.session) == []
    result = runner.invoke(args=["register-verify"])
    assert result.exit_code == 0 and "OK: 1 member agree" in result.output
    db.session.execute(sa.update(Member).where(Member.id == member.id).values(shares_held=99))
    db.session.commit()
    problems = services.verify_register(db.session)
    assert problems == ["member 1: holding 99 (1 transactions) but the ledger sums to 100 "
                        "(1 transactions)"]
    result = runner.invoke(args=["register-verify"])
    assert result.exit_code == 1 and "DIFFERENCE member 1" in result.output


def test_verify_register_finds_a_counter_below_the_numbers(db):
    _admit(db)
    db.session.execute(sa.update(Counter).values(value=0))
    assert "numbers could be reused" in services.verify_register(db.session)[0]


def test_every_change_leaves_an_audit_row(db, make_user):
    staff = make_user("staff")
    a = _admit(db, by=staff, invite=False).member
    b = _admit(db, email="b@example.org", by=staff, invite=False).member
    services.allot(db.session, a, 5, on=ON, by=staff)
    services.withdraw(db.session, a, 5, on=ON, by=staff)
    services.transfer(db.session, a, b, 5, on=ON, by=staff)
    services.change_address(db.session, a, "2 Road", by=staff)
    services.cease(db.session, b, on=ON, by=staff, expected_shares=105)
    rows = db.session.execute(sa.select(AuditEvent.action, AuditEvent.actor_id)
                              .where(AuditEvent.action.startswith("register."))
                              .order_by(AuditEvent.id)).all()
    assert [r.action for r in rows] == [
        "register.admitted", "register.admitted", "register.allotted", "register.withdrawn",
        "register.transferred", "register.address_changed", "register.ceased"]
    assert {r.actor_id for r in rows} == {staff.id}


def test_account_deletion_keeps_the_register_entry(app, make_user):
    from coop.extensions import db
    from tests.conftest import delete_my_account, login

    user = make_user("member", email="leaving@example.org")
    with app.app_context():
        _admit(db, email="leaving@example.org")
        db.session.commit()
    client = app.test_client()
    assert login(client, user.email).status_code == 302
    response = delete_my_account(client)
    assert response.status_code == 302
    with app.app_context():
        member = get_member(1)
        assert member is not None and member.user_id is None
        assert member.email == "leaving@example.org" and member.shares_held == 100
        assert services.verify_register(db.session) == []
        assert db.session.scalar(sa.select(AuditEvent.action).where(
            AuditEvent.action == "register.account_unlinked")) is not None


def test_data_export_includes_the_register_entry(app, db, make_user):
    from coop import hooks
    from coop.accounts.models import User

    user = make_user("member", email="mine@example.org")
    _admit(db, email="mine@example.org")
    with app.test_request_context():
        parts = dict(hooks.call("data_export", db.session, db.session.get(User, user.id)))
    entry = parts["register_of_members"]
    assert entry["membership_number"] == 1 and entry["shares_held"] == 100
    assert entry["transactions"][0]["kind"] == "allotment"


def test_dates_in_the_future_use_london_today(db):
    assert services.check_date(london_today()) == london_today()


def test_erasing_the_enquiry_an_allotment_came_from_leaves_the_register_whole(db):
    from coop.shares import services as shares

    contact = shares.Contact(name="Ada Lovelace", email="ada@example.org", address="1 Road",
                             postcode="EC4Y 1AA")
    enquiry = shares.submit(db.session, "shares", contact, 25_000, payment_method="cheque")
    line = _admit(db, name="Ada Lovelace", email="ada@example.org", shares=250,
                  enquiry_id=enquiry.id)
    shares.erase(db.session, enquiry, by=None)
    db.session.commit()
    member = get_member(1)
    assert (member.name, member.email, member.shares_held) == (
        "Ada Lovelace", "ada@example.org", 250)
    assert db.session.get(ShareTransaction, line.id).enquiry_id == enquiry.id
    assert services.verify_register(db.session) == []


def test_the_nightly_checks_include_the_register(app):
    """The task queue's nightly job runs register-verify through the ``nightly_checks`` hook."""
    from coop import hooks
    from coop.extensions import db as _db

    with app.app_context():
        names = [name for name, _problems in hooks.call("nightly_checks", _db.session)]
    assert "Register of members" in names
