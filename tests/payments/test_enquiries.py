"""Share enquiries and supporter pledges paid online: from the thank-you page and the email,
one payment for shares, a subscription for a monthly pledge; recorded from the webhooks."""

from __future__ import annotations

import re
import secrets

import sqlalchemy as sa

from coop.extensions import db as _db
from coop.fund.models import Entry
from coop.payments.models import Checkout, Payment
from tests.payments.conftest import BASE_URL, deliver, event, invoice_paid, session_completed
from tests.shares.conftest import share_form, support_form


def _pay_link(client, form_url: str, data: dict) -> str:
    assert client.post(form_url, data=data).status_code == 302
    page = client.get("/shares/thank-you").get_data(as_text=True)
    match = re.search(r'href="(/payments/enquiry/[^"]+)"', page)
    assert match, page
    return match.group(1)


def _notes(app) -> list[str]:
    from coop.shares.models import Note

    with app.app_context():
        return list(_db.session.scalars(sa.select(Note.body).order_by(Note.id)))


def test_a_share_enquiry_is_paid_once_for_its_amount(app, client, stripe_api, outbox):
    link = _pay_link(client, "/shares", share_form(amount="250"))
    page = client.get(link)
    assert page.status_code == 200
    assert "Pay £250 by card" in page.get_data(as_text=True)
    response = client.post(link)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/payments/checkout/")
    assert stripe_api.url in client.get(response.headers["Location"]).get_data(as_text=True)
    params = stripe_api.checkout_requests()[0]["params"]
    assert params["mode"] == "payment"
    assert params["line_items[0][price_data][unit_amount]"] == "25000"
    assert params["line_items[0][price_data][currency]"] == "gbp"
    assert params["customer_email"] == "zoe@example.org"
    assert params["success_url"].startswith(f"{BASE_URL}/payments/thank-you/")
    assert "submit_type" not in params  # buying shares is not a donation

    with app.app_context():
        checkout = _db.session.scalar(sa.select(Checkout))
        _db.session.expunge(checkout)
    assert checkout.purpose == "shares" and checkout.enquiry_id is not None
    body = event("checkout.session.completed", session_completed(checkout, intent="pi_sh"))
    assert deliver(client, body).get_json()["status"] == "processed"
    with app.app_context():
        payment = _db.session.scalar(sa.select(Payment))
        assert (payment.amount_pence, payment.entry_id) == (25_000, None)  # not the fund
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(Entry)) == 0
    assert _notes(app) == ["Paid £250.00 online by card (Stripe pi_sh). "
                           "Moved to payment received."]
    from coop.shares.models import Enquiry

    with app.app_context():
        enquiry = _db.session.get(Enquiry, checkout.enquiry_id)
        assert (enquiry.status, enquiry.paid_pence, enquiry.paid_method) == (
            "payment_received", 25_000, "online")
    thanks = client.get(f"/payments/thank-you/{checkout.token}").get_data(as_text=True)
    assert "Your payment of £250 is in" in thanks
    assert "enters you in the register of members" in thanks
    assert "once the payment is in" not in thanks  # it is in (QA)
    # paid: the link no longer offers to pay again
    again = client.get(link).get_data(as_text=True)
    assert "This has been paid online" in again and "by card</button>" not in again
    assert client.post(link).status_code == 409
    assert len(stripe_api.checkout_requests()) == 1

    # The acknowledgement email carries the same link, absolute on BASE_URL.
    [message] = [m for m in outbox() if "reference" in str(m["Subject"])]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert f"{BASE_URL}{link}" in text


def test_a_monthly_pledge_is_a_subscription_and_ends_when_cancelled(app, client, stripe_api):
    link = _pay_link(client, "/support", support_form(amount="12.50", frequency="monthly"))
    assert "Pay £12.50 a month by card" in client.get(link).get_data(as_text=True)
    assert client.post(link).status_code == 303
    params = stripe_api.checkout_requests()[0]["params"]
    assert params["mode"] == "subscription"
    assert params["line_items[0][price_data][recurring][interval]"] == "month"
    assert params["line_items[0][price_data][unit_amount]"] == "1250"
    with app.app_context():
        checkout = _db.session.scalar(sa.select(Checkout))
        _db.session.expunge(checkout)
    deliver(client, event("checkout.session.completed", session_completed(checkout)))
    deliver(client, event("invoice.paid", invoice_paid(checkout, invoice="in_sup")))
    deliver(client, event("customer.subscription.deleted", {
        "id": f"sub_test_{checkout.id}", "object": "subscription", "metadata": {}}))
    notes = _notes(app)
    assert notes[0] == ("Monthly payment of £12.50 received online (Stripe in_sup). "
                        "Moved to payment received.")
    assert notes[1].startswith("Monthly payments ended")
    with app.app_context():
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(Entry)) == 0
        assert _db.session.get(Checkout, checkout.id).status == "ended"


def test_forged_or_unknown_enquiry_links_are_404(client, stripe_api):
    from coop.payments.views import enquiry_payment_token

    assert client.get("/payments/enquiry/SH-2026-000001").status_code == 404
    assert client.get("/payments/enquiry/" + "x" * 40).status_code == 404
    with client.application.test_request_context():
        unknown = enquiry_payment_token("SH-2026-999999")
        odd = enquiry_payment_token(["not", "a", "reference"])
    assert client.get(f"/payments/enquiry/{unknown}").status_code == 404
    assert client.get(f"/payments/enquiry/{odd}").status_code == 404
    assert stripe_api.checkout_requests() == []


def test_without_stripe_the_thank_you_page_offers_no_online_payment(plain_app):
    client = plain_app.test_client()
    assert client.post("/shares", data=share_form()).status_code == 302
    page = client.get("/shares/thank-you").get_data(as_text=True)
    assert "/payments/enquiry/" not in page and "Pay online" not in page


def _enquiry_checkouts(app) -> list[Checkout]:
    with app.app_context():
        rows = list(_db.session.scalars(sa.select(Checkout).order_by(Checkout.id)))
        for row in rows:
            _db.session.expunge(row)
        return rows


def _record_bank_transfer(app, enquiry_id: int, pence: int) -> None:
    from coop.shares import services as shares
    from coop.shares.models import Enquiry, PaidMethod

    with app.app_context():
        enquiry = _db.session.get(Enquiry, enquiry_id)
        shares.record_payment(_db.session, enquiry, amount_pence=pence,
                              received_on=enquiry.created_at.date(),
                              method=PaidMethod.BANK_TRANSFER, by=None)
        _db.session.commit()


def test_pressing_pay_twice_opens_one_payment_page(app, client, stripe_api):
    """QA: the button on the thank-you page and the email's link each made a Stripe page, and
    both could be paid."""
    link = _pay_link(client, "/shares", share_form(amount="250"))
    first, second = client.post(link), client.post(link)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(stripe_api.checkout_requests()) == 1 and len(_enquiry_checkouts(app)) == 1


def test_an_enquiry_paid_by_transfer_offers_no_card_payment(app, client, stripe_api):
    """QA: an enquiry staff had marked paid by bank transfer still offered "Pay £250 by
    card", and a page opened before still led on to Stripe: the reader paid twice."""
    link = _pay_link(client, "/shares", share_form(amount="250"))
    handoff = client.post(link).headers["Location"]
    [checkout] = _enquiry_checkouts(app)
    _record_bank_transfer(app, checkout.enquiry_id, 25_000)

    page = client.get(link).get_data(as_text=True)
    assert "A payment of £250 by bank transfer was received on" in page
    assert "nothing more to pay" in page and "by card</button>" not in page
    assert client.post(link).status_code == 409
    older = client.get(handoff)  # the Stripe page opened before the transfer came in
    assert older.status_code == 303 and older.headers["Location"] == link
    assert stripe_api.url not in client.get(handoff, follow_redirects=True).get_data(
        as_text=True)
    assert len(stripe_api.checkout_requests()) == 1


def test_a_payment_after_the_enquiry_was_paid_is_flagged_for_a_refund(app, client, stripe_api):
    """A Stripe page left open in another tab and paid after a transfer came in: staff are
    told plainly, on the enquiry, to check and refund."""
    link = _pay_link(client, "/shares", share_form(amount="250"))
    client.post(link)
    [checkout] = _enquiry_checkouts(app)
    _record_bank_transfer(app, checkout.enquiry_id, 25_000)
    body = event("checkout.session.completed", session_completed(checkout, intent="pi_twice"))
    assert deliver(client, body).get_json()["status"] == "processed"
    [note] = [n for n in _notes(app) if "pi_twice" in n]
    assert "PAID TWICE: £250 had already been received (by bank transfer," in note
    assert "refund this payment in Stripe" in note
    # the reader who comes back from the cancel link of a page that was paid is not told
    # that nothing was taken
    cancelled = client.get(f"/payments/cancelled/{checkout.token}")
    assert cancelled.status_code == 302
    assert cancelled.headers["Location"] == f"/payments/thank-you/{checkout.token}"


def test_an_old_payment_page_of_a_paid_enquiry_is_404_once_stripe_is_off(
        app, client, stripe_api, monkeypatch):
    """Review: with the keys taken away, the page had nowhere to send the reader: a 500."""
    from coop.payments import gateway

    link = _pay_link(client, "/shares", share_form(amount="250"))
    handoff = client.post(link).headers["Location"]
    [checkout] = _enquiry_checkouts(app)
    _record_bank_transfer(app, checkout.enquiry_id, 25_000)
    monkeypatch.setattr(gateway, "configured", lambda: False)
    assert client.get(handoff).status_code == 404


def test_a_share_payment_refunded_in_full_is_no_longer_ready_for_admission(
        app, client, stripe_api):
    """QA: refunded in full on Stripe, the enquiry still said "Payment received" with "Admit
    as a member" offered; the refund was a quiet note. A part refund leaves it as it is."""
    from coop.shares.models import Enquiry

    link = _pay_link(client, "/shares", share_form(amount="250"))
    client.post(link)
    [checkout] = _enquiry_checkouts(app)
    deliver(client, event("checkout.session.completed",
                          session_completed(checkout, intent="pi_back")))
    charge = {"id": "ch_back", "object": "charge", "payment_intent": "pi_back",
              "amount": 25_000, "amount_refunded": 5_000}
    assert deliver(client, event("charge.refunded", charge)).get_json()["status"] == \
        "processed"
    with app.app_context():
        enquiry = _db.session.get(Enquiry, checkout.enquiry_id)
        assert (enquiry.status, enquiry.paid_pence) == ("payment_received", 25_000)
    assert _notes(app)[-1] == ("Refunded through Stripe (ch_back): £50 went back. £200 paid "
                               "online for this enquiry is still held.")
    deliver(client, event("charge.refunded", {**charge, "amount_refunded": 25_000}))
    with app.app_context():
        enquiry = _db.session.get(Enquiry, checkout.enquiry_id)
        assert (enquiry.status, enquiry.paid_pence, enquiry.paid_method) == (
            "contacted", None, None)
        assert enquiry.changes[-1].detail == (
            "Refunded through Stripe (ch_back): £200: the whole payment went back")
    assert _notes(app)[-1].endswith("REFUNDED IN FULL: moved back to contacted, with no "
                                    "payment recorded.")


def _second_checkout(app, first: Checkout) -> Checkout:
    with app.app_context():
        row = Checkout(token=secrets.token_urlsafe(24), purpose=first.purpose, mode=first.mode,
                       amount_pence=first.amount_pence, enquiry_id=first.enquiry_id,
                       stripe_session_id="cs_second", checkout_url="https://checkout.example/2")
        _db.session.add(row)
        _db.session.commit()
        _db.session.refresh(row)
        _db.session.expunge(row)
        return row


def test_refunding_the_second_of_two_online_payments_keeps_the_first(app, client, stripe_api):
    """Review: PAID TWICE tells staff to refund the second payment in Stripe; doing so must not undo
    the first, which the society still holds."""
    from coop.shares.models import Enquiry

    link = _pay_link(client, "/shares", share_form(amount="250"))
    client.post(link)
    [first] = _enquiry_checkouts(app)
    second = _second_checkout(app, first)
    deliver(client, event("checkout.session.completed", session_completed(first, intent="pi_1")))
    deliver(client, event("checkout.session.completed", session_completed(second, intent="pi_2")))
    assert any("PAID TWICE" in n for n in _notes(app))
    charge = {"id": "ch_2", "object": "charge", "payment_intent": "pi_2",
              "amount": 25_000, "amount_refunded": 25_000}
    assert deliver(client, event("charge.refunded", charge)).get_json()["status"] == "processed"
    with app.app_context():
        enquiry = _db.session.get(Enquiry, first.enquiry_id)
        assert (enquiry.status, enquiry.paid_pence, enquiry.paid_method) == (
            "payment_received", 25_000, "online")


def test_after_a_full_refund_the_payment_page_does_not_say_paid(app, client, stripe_api):
    """Review: refunded in full, the reader was still told "This has been paid online" and
    couldn't pay again."""
    from coop.shares.models import Enquiry

    link = _pay_link(client, "/shares", share_form(amount="250"))
    client.post(link)
    [checkout] = _enquiry_checkouts(app)
    deliver(client, event("checkout.session.completed",
                          session_completed(checkout, intent="pi_back")))
    deliver(client, event("charge.refunded", {
        "id": "ch_back", "object": "charge", "payment_intent": "pi_back",
        "amount": 25_000, "amount_refunded": 25_000}))
    with app.app_context():
        assert _db.session.get(Enquiry, checkout.enquiry_id).status == "contacted"
    page = client.get(link).get_data(as_text=True)
    assert "This has been paid online" not in page and "by card</button>" in page


def test_payment_refunded_does_not_wipe_a_payment_corrected_meanwhile(app, client, stripe_api):
    """Review: the webhook read the enquiry at "payment received, online"; staff then corrected the
    recorded payment to a cheque (committed); the refund's guarded move checks only the
    status, so it wipes the cheque."""
    from sqlalchemy.orm import Session

    from coop.shares import services as shares
    from coop.shares.models import Enquiry, PaidMethod

    link = _pay_link(client, "/shares", share_form(amount="250"))
    client.post(link)
    [checkout] = _enquiry_checkouts(app)
    deliver(client, event("checkout.session.completed",
                          session_completed(checkout, intent="pi_x")))
    with app.app_context():
        webhook_view = _db.session.get(Enquiry, checkout.enquiry_id)
        assert webhook_view.paid_method == "online"
        with Session(_db.engine) as staff:
            enquiry = staff.get(Enquiry, checkout.enquiry_id)
            shares.record_payment(staff, enquiry, amount_pence=25_000,
                                  received_on=enquiry.paid_on, method=PaidMethod.CHEQUE,
                                  by=None, correcting=shares.payment_key(enquiry))
            staff.commit()
        try:
            shares.payment_refunded(_db.session, webhook_view, detail="refunded")
            _db.session.commit()
            wiped = True
        except shares.EnquiryError:
            _db.session.rollback()
            wiped = False
        _db.session.expire_all()
        after = _db.session.get(Enquiry, checkout.enquiry_id)
        assert not wiped
        assert (after.status, after.paid_method) == ("payment_received", "cheque")
