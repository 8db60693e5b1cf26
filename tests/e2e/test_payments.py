"""A reader gives £25 online: "Donate today", the gift page, the hand-off to Checkout (a local
stand-in for Stripe's hosted page and API), then Stripe's signed webhook, the thank-you page
and the public figures moving from the demo's £6,572 to £6,597."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, log_in, run_server, screenshot
from tests.payments.conftest import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    StripeStandIn,
    event,
    sign,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stripe_api():
    stand_in = StripeStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
def paying_site(tmp_path_factory, stripe_api):
    """``make run`` with Stripe configured, pointed at the stand-in."""
    with run_server(tmp_path_factory, "_payments", COOP_STRIPE_SECRET_KEY=SECRET_KEY,
                    COOP_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                    COOP_STRIPE_API_BASE=stripe_api.url,
                    COOP_STRIPE_MAX_NETWORK_RETRIES="0") as server:
        yield server


def _post_webhook(url: str, body: dict) -> tuple[int, dict]:
    payload = json.dumps(body)
    request = urllib.request.Request(  # noqa: S310 - our own server on 127.0.0.1
        f"{url}/payments/stripe/webhook", data=payload.encode(), method="POST",
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload)})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def test_a_reader_gives_25_pounds_and_the_fund_moves(browser, paying_site, stripe_api):
    context = browser.new_context(base_url=paying_site.url, viewport=DESKTOP, locale="en-GB",
                                  timezone_id="Europe/London")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto("/fund")
        expect(page.get_by_text("You’ve raised £6,572")).to_be_visible()
        page.get_by_role("link", name="Donate today").click()
        expect(page).to_have_url(re.compile(r"/payments/give$"))
        expect(page.get_by_role("heading", name="Give to the fighting fund")).to_be_visible()

        # a bad amount first: a clear message next to the field, what was typed kept
        page.get_by_label("Another amount").check()
        page.get_by_label("Other amount (£)").fill("0.50")
        page.get_by_role("button", name="Continue to payment").click()
        expect(page.get_by_role("alert")).to_contain_text("The smallest gift we can take "
                                                          "online is £1")
        expect(page.get_by_label("Other amount (£)")).to_have_value("0.50")
        screenshot(page, "payments-give-error")

        page.get_by_label("£25").check()
        page.get_by_role("button", name="Continue to payment").click()  # 0.50 still typed
        expect(page.get_by_role("alert")).to_contain_text("You ticked £25 and typed another "
                                                          "amount")  # which one? (QA)
        page.get_by_label("Other amount (£)").fill("")
        page.get_by_label("Name for the thanks list").fill("Rosa Ward")
        page.get_by_label("Town").fill("Hebden Bridge")
        page.get_by_label("Thank me by name").check()
        screenshot(page, "payments-give")
        page.get_by_role("button", name="Continue to payment").click()

        # the hand-off: our page leads straight on to the stand-in's hosted page
        expect(page.get_by_role("heading", name="Stand-in Checkout")).to_be_visible()
        assert page.url.startswith(f"{stripe_api.url}/checkout/cs_test_")
        [created] = stripe_api.checkout_requests()
        params = created["params"]
        assert params["line_items[0][price_data][unit_amount]"] == "2500"
        assert params["line_items[0][price_data][currency]"] == "gbp"
        assert params["success_url"].startswith(f"{paying_site.url}/payments/thank-you/")
        assert created["headers"]["Idempotency-Key"].startswith("coop-checkout-")

        # Stripe would send the reader back now; before the webhook the gift is on its way
        page.goto(params["success_url"])
        expect(page.get_by_text("is on its way to us")).to_be_visible()

        # Stripe's signed webhook records the gift
        session_id = stripe_api.last_session_id
        body = event("checkout.session.completed", {
            "id": session_id, "object": "checkout.session", "mode": "payment",
            "payment_status": "paid", "amount_total": 2500, "currency": "gbp",
            "client_reference_id": params["client_reference_id"],
            "payment_intent": "pi_e2e_1", "customer": "cus_e2e",
            "metadata": {"coop_token": params["metadata[coop_token]"]}}, created=int(time.time()))
        assert _post_webhook(paying_site.url, body) == (200, {"received": True,
                                                              "status": "processed"})
        page.get_by_role("link", name="Refresh this page").click()
        expect(page.get_by_text("Your £25 is in: the fund now stands at £6,597")).to_be_visible()
        expect(page.get_by_text("once someone here has read the name")).to_be_visible()
        screenshot(page, "payments-thanks")

        # the public figures moved (the fund page may be up to FUND_CACHE_SECONDS old)
        page.goto("/api/fund")
        deadline = time.monotonic() + 10
        while json.loads(page.inner_text("body"))["raised_pence"] != 659_700:
            assert time.monotonic() < deadline, page.inner_text("body")
            page.wait_for_timeout(200)
            page.reload()
        page.goto("/fund")
        expect(page.get_by_text("You’ve raised £6,597")).to_be_visible()
        expect(page.get_by_text("J. Smith of Leeds")).to_be_visible()  # thanked before
        expect(page.get_by_text("Rosa Ward")).to_have_count(0)  # the name waits for staff

        # staff read the name and thank her by it
        log_in(page, "staff")
        page.goto("/staff")
        # the demo has a name waiting already (A. Okonkwo), so two now
        page.get_by_role("link", name="2 names given online wait to be checked").click()
        names = page.get_by_role("region", name=re.compile("Names to check"))
        expect(names.get_by_role("listitem").filter(has_text="Rosa Ward of Hebden Bridge")
               ).to_be_visible()
        names.get_by_role("button", name="Thank by name (Rosa Ward of Hebden Bridge)").click()
        expect(page.get_by_text("“Rosa Ward of Hebden Bridge” is now in the thanks."))\
            .to_be_visible()
        page.goto("/fund")
        expect(page.get_by_text("Rosa Ward of Hebden Bridge")).to_be_visible()
    finally:
        context.close()

