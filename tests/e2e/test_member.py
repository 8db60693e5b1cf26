"""A member logs in, sees their own things, logs out; a cookie copied before logout is dead."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO, log_in, screenshot

pytestmark = pytest.mark.browser


def test_member_logs_in_sees_own_account_and_logs_out(new_context):
    context = new_context()
    page = context.new_page()
    page.goto("/")
    page.get_by_role("link", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    email, _ = DEMO["member"]
    log_in(page, "member", remember=True)

    # The login form posts to /login#errors; the browser keeps that fragment through the
    # redirect (no element has the id on the account page, so it stays at the top).
    expect(page).to_have_url(re.compile(r"/account(#errors)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_text(re.compile(r"Welcome( back)?, "))).to_be_visible()
    expect(page.get_by_text(email, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Staff")).to_have_count(0)

    # Their own things, and nobody else's: the demo member's share enquiry and registration.
    enquiries = page.get_by_role("region", name="Your share and supporter enquiries")
    expect(enquiries.get_by_role("row")).to_have_count(2)
    expect(enquiries).to_contain_text("£100")
    expect(enquiries).to_contain_text("Contacted")
    expect(enquiries.get_by_role("link", name=re.compile(r"SH-\d{4}-\d{6}"))).to_be_visible()
    registrations = page.get_by_role("region", name="Your event registrations")
    expect(registrations).to_contain_text("Readers' and supporters' meeting, London")
    expect(registrations).not_to_contain_text("History workshop")  # someone else's

    # Registering for an event while logged in needs no form: it appears on the account page.
    page.goto("/events/glasgow-readers-social")
    expect(page.get_by_text(f"You'll be registered as Mo Member ({email})")).to_be_visible()
    page.get_by_role("button", name="Register").click()
    page.get_by_role("link", name="Your account").click()
    expect(registrations).to_contain_text("Glasgow readers' social")
    screenshot(page, "account")

    copied = context.cookies()
    assert {c["name"] for c in copied} >= {"session", "remember_token"}

    page.get_by_role("navigation", name="Account").get_by_role(
        "button", name="Log out", exact=True).click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.goto("/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")

    # Someone who copied the cookies before the logout (session and remember-me) gets nothing.
    thief = new_context()
    thief.add_cookies(copied)
    stolen = thief.new_page()
    stolen.goto("/account")
    expect(stolen.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(stolen.get_by_text(email)).to_have_count(0)

    # Each cookie on its own is dead too.
    for cookie in copied:
        one = new_context()
        one.add_cookies([cookie])
        single = one.new_page()
        single.goto("/account")
        expect(single.get_by_role("heading", level=1)).to_have_text("Log in")


def test_a_copied_cookie_works_until_logout(new_context):
    """The control for the test above: the same copy made while logged in does work."""
    context = new_context()
    page = context.new_page()
    log_in(page, "member")
    other = new_context()
    other.add_cookies(context.cookies())
    twin = other.new_page()
    twin.goto("/account")
    expect(twin.get_by_role("heading", level=1)).to_have_text("Your account")
    page.get_by_role("navigation", name="Account").get_by_role(
        "button", name="Log out", exact=True).click()
    twin.goto("/account")
    expect(twin.get_by_role("heading", level=1)).to_have_text("Log in")
