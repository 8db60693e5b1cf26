"""A reader sends a share enquiry from a phone and sees how to pay; staff find it, record
the payment, admit the reader as a member (certificate linked) and export it."""

from __future__ import annotations

import csv
import io
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def test_share_enquiry_on_a_phone_then_payment_admission_and_export(new_context, live_server):
    email = f"rosa-{uuid.uuid4().hex[:8]}@example.org"
    phone = new_context(phone=True).new_page()
    phone.goto("/")
    # On a phone the main navigation is in the Menu (no JavaScript needed), and leads to the form.
    phone.get_by_text("Menu", exact=True).click()
    phone.get_by_role("navigation", name="Main").get_by_role("link", name="Buy shares").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Own a share of the paper")
    screenshot(phone, "shares")

    form = phone.get_by_role("main")  # the footer has a newsletter form with an Email too
    form.get_by_label("How much would you like to invest?").fill("500")
    form.get_by_label("Bank transfer").check()
    form.get_by_label("Full name").fill("Rosa Reader")
    form.get_by_label("Email", exact=True).fill(email)
    form.get_by_label("Postal address").fill("1 Example Street\nLeeds")
    form.get_by_label("Postcode").fill("ls1 1aa")
    expect(form.get_by_label("Country")).to_have_value("GB")
    form.get_by_label("You may contact me about this enquiry").check()
    form.get_by_role("button", name="Send my enquiry").click()

    expect(phone.get_by_role("heading", level=1)).to_have_text("Thank you")
    reference = phone.locator(".reference").inner_text()
    assert re.fullmatch(r"SH-\d{4}-\d{6}", reference), reference
    expect(phone.get_by_text(f"Your reference is {reference}")).to_be_visible()
    # How to pay, exactly: bank transfer quoting the reference, or a cheque, with the amount.
    how = phone.get_by_role("region", name="How to pay")
    expect(how).to_contain_text("£500 for 500 shares")
    expect(how).to_contain_text("Sort code")
    expect(how).to_contain_text("Account number")
    expect(how).to_contain_text(reference)
    expect(how).to_contain_text("By cheque")
    expect(phone.get_by_role("link", name="membership@example.org").first).to_be_visible()
    screenshot(phone, "shares-thanks")
    message = live_server.mail_to(email, reference)
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert reference in body and "How to pay" in body and "Sort code" in body
    assert message["Reply-To"] == "membership@example.org"

    staff = new_context().new_page()
    log_in(staff, "staff")
    staff.get_by_role("link", name="Staff", exact=True).click()
    staff.get_by_role("link", name="Share and supporter enquiries").click()
    staff.get_by_label("Search name, email or reference").fill(reference)
    staff.get_by_role("button", name="Filter").click()
    results = staff.get_by_role("table")
    expect(results.get_by_role("row")).to_have_count(2)  # the heading row and ours
    expect(results).to_contain_text("Rosa Reader")
    expect(results).to_contain_text("£500")
    screenshot(staff, "staff-enquiries")
    results.get_by_role("link", name=reference).click()

    expect(staff.get_by_role("heading", level=1)).to_contain_text(reference)
    expect(staff.get_by_text("1 Example Street")).to_be_visible()
    expect(staff.get_by_text("LS1 1AA")).to_be_visible()
    # The natural next step is chosen; the closing ones are offered but not chosen.
    expect(staff.get_by_label("Contacted: we have been in touch")).to_be_checked()
    expect(staff.get_by_label("Declined by the society (closes it)")).not_to_be_checked()
    staff.get_by_role("button", name="Save the next step").click()
    expect(staff.get_by_text(re.compile(r"new → contacted, by Sam Staff"))).to_be_visible()
    expect(staff.locator(".badge", has_text="Contacted").first).to_be_visible()

    # The cheque arrives: staff record it, then admit the reader on a confirmation page.
    payment = staff.get_by_role("form", name=re.compile("record the payment", re.I))
    expect(payment.get_by_label("Amount received")).to_have_value("500")
    payment.get_by_label("Cheque").check()
    payment.get_by_role("button", name="Record the payment").click()
    expect(staff.get_by_text(re.compile(r"contacted → payment received, by Sam Staff: "
                                        r"£500 by cheque"))).to_be_visible()
    staff.get_by_role("link", name="Admit as a member…").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Admit Rosa Reader as a member")
    staff.get_by_role("button", name="Admit and allot the shares").click()
    expect(staff.get_by_text("Tick the box to confirm the admission.", exact=True)).to_be_visible()
    staff.get_by_label("I confirm: enter this admission in the register of members").check()
    staff.get_by_role("button", name="Admit and allot the shares").click()
    expect(staff.locator(".badge", has_text="Admitted").first).to_be_visible()
    number = staff.locator(".membership-number").inner_text()
    assert re.fullmatch(r"\d{6}", number), number
    screenshot(staff, "staff-enquiry-admitted")
    welcome = live_server.mail_to(email, "Welcome")
    assert f"Membership number: {number}" in welcome.get_body(
        preferencelist=("plain",)).get_content()
    # The new member's certificate is one click away.
    staff.get_by_role("link", name="Share certificate").click()
    expect(staff.get_by_text("Rosa Reader").first).to_be_visible()
    expect(staff.get_by_text(number).first).to_be_visible()
    staff.go_back()

    staff.get_by_role("link", name="All enquiries").click()
    staff.get_by_label("Search name, email or reference").fill(reference)
    staff.get_by_role("button", name="Filter").click()
    with staff.expect_download() as info:
        staff.get_by_role("link", name=re.compile(r"Download these 1 as CSV")).click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    row = {k.lower(): v for k, v in rows[0].items()}
    assert reference in row.values()
    assert row["status"] == "Admitted" and row["kind"] == "Shares"  # as the pages say them
    assert number in row.values()
    assert email in row.values()
