"""On a phone, a failed submit lands on the error summary (the form posts to ``…#errors``), its
links lead to the fields, and a good submit afterwards goes on as before."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

MEETING = "Readers' and supporters' meeting, London"
PHONE_390 = {"width": 390, "height": 844}


def _summary_in_view(page) -> None:
    summary = page.locator("#errors")
    expect(summary).to_be_visible()
    expect(summary).to_be_in_viewport()
    assert page.url.endswith("#errors"), page.url
    # the page really scrolled: without the fragment the summary would be far below the fold
    assert page.evaluate("window.scrollY") > 0


def test_share_form_errors_are_in_view_on_a_phone(new_context):
    page = new_context(phone=True, viewport=PHONE_390).new_page()
    page.goto("/shares")
    form = page.get_by_role("main")
    form.get_by_label("Full name").fill("Rosa Reader")
    form.get_by_role("button", name="Send my enquiry").click()

    _summary_in_view(page)
    links = page.locator("#errors a")
    # in the order of the form: the amount comes before the email
    texts = links.all_inner_texts()
    assert texts[0].startswith("How much would you like to invest?"), texts
    assert [t for t in texts if t.startswith("Email")], texts
    assert texts.index(next(t for t in texts if t.startswith("Email"))) > 0
    # typed input is kept; following a link puts the reader on the field
    expect(form.get_by_label("Full name")).to_have_value("Rosa Reader")
    links.first.click()
    expect(form.get_by_label("How much would you like to invest?")).to_be_in_viewport()

    # a good submit redirects to the thanks page: the browser carries "#errors" over to it,
    # which does nothing there (the page has no element with that id)
    form.get_by_label("How much would you like to invest?").fill("100")
    form.get_by_label("Bank transfer").check()
    form.get_by_label("Email", exact=True).fill("rosa.errors@example.org")
    form.get_by_label("Postal address").fill("1 Example Street\nLeeds")
    form.get_by_label("Postcode").fill("LS1 1AA")
    form.get_by_label("You may contact me about this enquiry").check()
    form.get_by_role("button", name="Send my enquiry").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    assert page.url.endswith("/shares/thank-you#errors"), page.url  # kept, as the spec says
    expect(page.locator("#errors")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_be_in_viewport()


def test_event_registration_errors_are_in_view_on_a_phone(new_context):
    page = new_context(phone=True, viewport=PHONE_390).new_page()
    page.goto("/events")
    page.get_by_role("link", name=MEETING).first.click()
    page.get_by_label("Your name").fill("Ella Reader")
    page.get_by_label("Your email").fill("not an address")
    page.get_by_role("button", name="Register").click()

    _summary_in_view(page)
    expect(page.locator("#errors a")).to_have_count(1)
    expect(page.locator("#errors a").first).to_have_text(re.compile(r"^Your email: "))
    expect(page.get_by_label("Your name")).to_have_value("Ella Reader")
