"""Names given online wait for staff before they are thanked in public.

A reader giving £1 online could otherwise put any words on the fund page, every article
page's thanks list and the paper's daily paragraph, unseen by anyone at the paper.
"""

from __future__ import annotations

import sqlalchemy as sa

from coop.audit import AuditEvent
from coop.extensions import db as _db
from coop.fund import services as fund
from coop.fund.models import Campaign, Entry
from tests.payments.conftest import (
    checkout_row,
    deliver,
    event,
    invoice_paid,
    london_today,
    session_completed,
    start_checkout,
)

NAME = "Rosa Ward of Hebden Bridge"


def pay_once(app, client, name="Rosa Ward", town="Hebden Bridge", amount="2500"):
    assert start_checkout(client, amount, donor_name=name, donor_town=town,
                          may_thank="y").status_code == 303
    checkout = checkout_row(app)
    assert deliver(client, event("checkout.session.completed",
                                 session_completed(checkout))).status_code == 200
    return checkout


def the_entry(app) -> Entry:
    with app.app_context():
        entry = _db.session.scalar(sa.select(Entry).order_by(Entry.id.desc()))
        _db.session.expunge_all()
        return entry


def public_fund(app) -> str:
    return app.test_client().get("/fund").get_data(as_text=True)


def report(app, campaign_id) -> str:
    """The paper's paragraph for today's gifts."""
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        return fund.daily_report(_db.session, campaign, london_today())


def first_monthly_payment(app, client, name):
    """A £10 monthly gift thanked by ``name``, its first month paid: the checkout."""
    assert start_checkout(client, "1000", frequency="monthly", donor_name=name,
                          may_thank="y").status_code == 303
    monthly = checkout_row(app)
    deliver(client, event("checkout.session.completed", session_completed(monthly)))
    deliver(client, event("invoice.paid", invoice_paid(monthly, invoice="in_1")))
    return monthly


def decide(client, entry_id, decision):
    return client.post(f"/staff/fund/names/{entry_id}", data={"decision": decision})


def test_a_name_given_online_waits_and_is_thanked_once_staff_show_it(
        app, client, campaign_id, stripe_api, login_as):
    pay_once(app, client)
    entry = the_entry(app)
    assert (entry.may_thank, entry.thanks_check) == (True, "waiting")
    page = public_fund(app)
    assert "£25" in page and "Rosa Ward" not in page  # the money counts; the name waits
    with app.app_context():
        assert fund.thanked_donors(_db.session, campaign_id) == []
    assert "Rosa" not in report(app, campaign_id)

    login_as("staff")
    listed = client.get("/staff/fund").get_data(as_text=True)
    assert "Names to check (1)" in listed and NAME in listed
    assert "1 name given online waits to be checked" in client.get("/staff").get_data(
        as_text=True)

    response = decide(client, entry.id, "show")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/fund#names-heading")
    assert f"“{NAME}” is now in the thanks." in client.get("/staff/fund").get_data(as_text=True)
    assert NAME in public_fund(app)
    assert f"Thanks to {NAME}." in report(app, campaign_id)
    with app.app_context():
        assert fund.thanked_donors(_db.session, campaign_id) == [NAME]
        audit = _db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.action == "fund.thanks_shown"))
        assert audit.subject_id == str(entry.id) and audit.actor_id is not None
        assert "Rosa" not in str(audit.details)  # no personal data in the audit log
    assert the_entry(app).thanks_check == "shown"
    assert "No names are waiting" in client.get("/staff/fund").get_data(as_text=True)


def test_a_declined_name_is_never_thanked_but_the_gift_counts(app, client, campaign_id,
                                                              stripe_api, login_as):
    pay_once(app, client, name="Somebody Rude")
    entry = the_entry(app)
    public_fund(app)  # the page (and its tally) built while the name waits
    login_as("staff")
    assert decide(client, entry.id, "decline").status_code == 302
    page = client.get("/staff/fund").get_data(as_text=True)
    assert "won’t thank “Somebody Rude of Hebden Bridge” in public. The gift still" in page
    assert "Somebody Rude" not in public_fund(app)
    with app.app_context():
        assert _db.session.get(Campaign, campaign_id).raised_pence == 2500
        assert fund.thanked_donors(_db.session, campaign_id) == []
        checked, differences = fund.verify_totals(_db.session)
        assert differences == []
    declined = the_entry(app)
    assert (declined.may_thank, declined.thanks_check) == (True, "declined")  # the wish kept


def test_a_name_is_decided_once(app, client, campaign_id, stripe_api, login_as):
    pay_once(app, client)
    entry = the_entry(app)
    login_as("staff")
    decide(client, entry.id, "decline")
    # a second member of staff, with the page open from before, presses "Thank by name"
    decide(client, entry.id, "show")
    page = client.get("/staff/fund").get_data(as_text=True)
    assert "Someone decided about that name first: it is not shown." in page
    assert the_entry(app).thanks_check == "declined"
    assert "Rosa Ward" not in public_fund(app)
    with app.app_context():
        assert _db.session.scalar(sa.select(Campaign.thanks_version).where(
            Campaign.id == campaign_id)) == 1


def test_odd_decisions_and_strangers_change_nothing(app, client, campaign_id, stripe_api,
                                                    login_as):
    pay_once(app, client)
    entry = the_entry(app)
    assert decide(client, entry.id, "show").status_code in (302, 403)  # not logged in
    login_as("member")
    assert decide(client, entry.id, "show").status_code == 403
    client.post("/logout")
    login_as("staff")
    for odd in ("", "SHOW", "yes", "show\n"):
        assert decide(client, entry.id, odd).status_code == 302
    assert decide(client, 999_999, "show").status_code == 302
    assert "That gift has no name waiting to be checked." in client.get(
        "/staff/fund").get_data(as_text=True)
    assert the_entry(app).thanks_check == "waiting"


def test_a_name_staff_type_is_thanked_at_once(app, campaign_id):
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        fund.add_entry(_db.session, campaign, 500, received_on=london_today(), source="post",
                       donor_name="Ann Lee", donor_town="Leeds", may_thank=True)
        _db.session.commit()
    assert the_entry(app).thanks_check is None
    assert "Ann Lee of Leeds" in public_fund(app)


def test_a_monthly_gifts_name_is_asked_about_once(app, client, campaign_id, stripe_api,
                                                  login_as):
    monthly = first_monthly_payment(app, client, "Tom Mann")
    first = the_entry(app)
    assert first.thanks_check == "waiting"
    login_as("staff")
    decide(client, first.id, "show")
    deliver(client, event("invoice.paid", invoice_paid(monthly, invoice="in_2")))
    second = the_entry(app)
    assert second.id != first.id
    assert (second.may_thank, second.thanks_check) == (True, None)  # thanked, not asked again


def test_a_monthly_gifts_declined_name_stays_unthanked(app, client, campaign_id, stripe_api,
                                                       login_as):
    monthly = first_monthly_payment(app, client, "Not Nice")
    login_as("staff")
    decide(client, the_entry(app).id, "decline")
    deliver(client, event("invoice.paid", invoice_paid(monthly, invoice="in_2")))
    second = the_entry(app)
    # not thanked, and the donor's wish is kept as they gave it (review)
    assert (second.may_thank, second.thanks_check) == (True, "declined")
    assert "No names are waiting" in client.get("/staff/fund").get_data(as_text=True)
    assert "Not Nice" not in public_fund(app)


def test_a_monthly_gift_follows_the_latest_decision(app, client, campaign_id, stripe_api,
                                                    login_as):
    """Declined by mistake, then thanked again: later payments are thanked (QA)."""
    monthly = first_monthly_payment(app, client, "Tom Mann")
    first = the_entry(app)
    login_as("staff")
    decide(client, first.id, "decline")
    client.post(f"/staff/fund/names/{first.id}/again")
    deliver(client, event("invoice.paid", invoice_paid(monthly, invoice="in_2")))
    second = the_entry(app)
    assert (second.may_thank, second.thanks_check) == (True, None)
    client.post(f"/staff/fund/names/{second.id}/withdraw")  # and stopped after all
    deliver(client, event("invoice.paid", invoice_paid(monthly, invoice="in_3")))
    assert the_entry(app).thanks_check == "declined"


def test_a_gift_refunded_in_full_thanks_nobody_and_names_its_line(app, client, campaign_id,
                                                                  stripe_api):
    """QA: a gift refunded in full still waited under "Names to check", and its refund's
    corrections didn't point back to it. A part refund changes nothing about the name."""
    checkout = pay_once(app, client)
    gift = the_entry(app)
    charge = {"id": "ch_rf", "object": "charge", "payment_intent": f"pi_test_{checkout.id}",
              "amount": 2500, "amount_refunded": 1000}
    deliver(client, event("charge.refunded", charge))
    assert the_entry(app).corrects_id == gift.id
    with app.app_context():
        assert [e.id for e, _n in fund.names_to_check_with_others(_db.session)] == [gift.id]
    deliver(client, event("charge.refunded", {**charge, "amount_refunded": 2500}))
    with app.app_context():
        assert fund.names_to_check_with_others(_db.session) == []
        assert _db.session.get(Entry, gift.id).thanks_check == "declined"
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "fund.thanks_taken_back")) == 1
    assert "Rosa Ward" not in public_fund(app)


def test_one_month_refunded_does_not_stop_thanking_the_next(
        app, client, campaign_id, stripe_api, login_as):
    """Review: a month refunded in full was read as staff's latest decision about the name,
    and every later month of the subscription went unthanked."""
    monthly = first_monthly_payment(app, client, "Tom Mann")
    first = the_entry(app)
    login_as("staff")
    decide(client, first.id, "show")
    assert the_entry(app).thanks_check == "shown"
    deliver(client, event("invoice.paid", invoice_paid(monthly, invoice="in_2")))
    second = the_entry(app)
    assert second.thanks_check in (None, "shown")
    deliver(client, event("charge.refunded", {
        "id": "ch_in2", "object": "charge", "payment_intent": "pi_in_2",
        "amount": 1000, "amount_refunded": 1000}))
    with app.app_context():
        assert _db.session.get(Entry, second.id).thanks_check == "declined"
    deliver(client, event("invoice.paid", invoice_paid(monthly, invoice="in_3")))
    third = the_entry(app)
    assert third.thanked  # follows staff's "show", as before the refunded month


def test_a_refund_in_a_later_campaign_still_names_the_gift_and_thanks_nobody(
        app, client, campaign_id, make_campaign, stripe_api):
    """QA: a gift paid last month and refunded this month: the refund went into this month's
    ledger naming nothing, the gift stayed thanked by name, and "Correct" offered to take it
    back a second time."""
    import datetime as dt
    import time

    make_campaign("last-month", opens_on=london_today() - dt.timedelta(days=40),
                  deadline=london_today() - dt.timedelta(days=11))
    with app.app_context():  # this month has money to take a refund from
        fund.add_entry(_db.session, _db.session.get(Campaign, campaign_id), 10_000,
                       received_on=london_today(), source="post")
        _db.session.commit()
    assert start_checkout(client, "2500", donor_name="Rosa Late", donor_town="Hull",
                          may_thank="y").status_code == 303
    checkout = checkout_row(app)
    paid_then = int(time.time()) - 20 * 86_400
    assert deliver(client, event("checkout.session.completed", session_completed(checkout),
                                 created=paid_then)).status_code == 200
    gift = the_entry(app)
    with app.app_context():
        assert _db.session.get(Campaign, gift.campaign_id).slug == "last-month"
    charge = {"id": "ch_late", "object": "charge", "payment_intent": f"pi_test_{checkout.id}",
              "amount": 2500, "amount_refunded": 2500}
    assert deliver(client, event("charge.refunded", charge)).status_code == 200
    refund = the_entry(app)
    assert (refund.campaign_id, refund.amount_pence) == (campaign_id, -2500)
    assert refund.corrects_id == gift.id
    with app.app_context():
        assert _db.session.get(Entry, gift.id).thanks_check == "declined"
        left = fund.corrections_of(_db.session, [gift.id])[gift.id]
        assert gift.amount_pence + left.pence == 0
    assert "Rosa Late" not in app.test_client().get("/fund/last-month").get_data(as_text=True)
