"""A new reader is invited, chooses a password, turns on two-step verification; later they
forget the password, get back in alone by email, the old session is dead, and logging in asks
for the code (computed here with pyotp, as their phone would)."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, screenshot

pytestmark = pytest.mark.browser

READER = "e2e.reader@example.org"
FIRST = "lantern orchard velvet ninety"
SECOND = "copper meadow tuesday kettle"


def fill_new_password(page, password: str) -> None:
    main = page.get_by_role("main")
    main.get_by_label("New password", exact=True).fill(password)
    main.get_by_label("New password again", exact=True).fill(password)
    main.get_by_role("button", name="Set password").click()


def test_invitation_two_step_forgot_password_journey(new_context, live_server):
    # An admin adds the reader: no password is chosen for them.
    admin = new_context().new_page()
    log_in(admin, "admin")
    admin.goto("/admin/users")
    form = admin.get_by_role("region", name="Add an account")
    form.get_by_label("Email", exact=True).fill(READER)
    form.get_by_label("Name", exact=True).fill("Eddie Reader")
    form.get_by_role("button", name="Create account and send invitation").click()
    expect(admin.get_by_text(f"Created {READER} as member")).to_be_visible()

    # The reader opens the invitation and chooses a password.
    invitation = live_server.mail_to(READER, "invited")
    [link] = [u for u in live_server.links_in(invitation) if "/welcome/" in u]
    context = new_context()
    page = context.new_page()
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
    fill_new_password(page, FIRST)
    expect(page.get_by_text("Your password has been set")).to_be_visible()

    # They log in and turn on two-step verification with their phone's app.
    page.get_by_role("main").get_by_label("Email", exact=True).fill(READER)
    page.get_by_role("main").get_by_label("Password", exact=True).fill(FIRST)
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    page.get_by_role("link", name="Turn on two-step verification").click()
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    secret = page.locator("code.secret-key").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from the app").fill(totp.now())
    page.get_by_role("main").get_by_label("Your password").fill(FIRST)  # it's them
    page.get_by_role("button", name="Turn on two-step verification").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step verification is on")
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    screenshot(page, "recovery-codes")

    # Weeks later, on another computer, they have forgotten the password.
    elsewhere = new_context().new_page()
    elsewhere.goto("/login")
    elsewhere.get_by_role("link", name="Forgot your password?").click()
    elsewhere.get_by_role("main").get_by_label("Email", exact=True).fill(READER)
    elsewhere.get_by_role("button", name="Send me a link").click()
    expect(elsewhere.get_by_role("heading", level=1)).to_have_text("Check your email")
    reset = live_server.mail_to(READER, "Reset your password")
    [link] = [u for u in live_server.links_in(reset) if "/login/reset/" in u]
    elsewhere.goto(link)
    expect(elsewhere.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    screenshot(elsewhere, "reset-password")
    fill_new_password(elsewhere, SECOND)
    expect(elsewhere.get_by_text("Your password has been changed")).to_be_visible()
    live_server.mail_to(READER, "Your password was changed")

    # The session on the first computer is over.
    page.goto("/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")

    # The link is used up.
    again = new_context().new_page()
    again.goto(link)
    expect(again.get_by_role("heading", level=1)).to_have_text("This link can't be used")

    # Logging in with the new password asks for the code.
    main = elsewhere.get_by_role("main")
    main.get_by_label("Email", exact=True).fill(READER)
    main.get_by_label("Password", exact=True).fill(SECOND)
    main.get_by_role("button", name="Log in").click()
    expect(elsewhere.get_by_role("heading", level=1)).to_have_text("Enter your code")
    # the code used to turn it on can't be used again: take the next one
    elsewhere.get_by_label("Code").fill(totp.at(time.time() + 30))
    elsewhere.get_by_role("button", name="Continue").click()
    expect(elsewhere.get_by_role("heading", level=1)).to_have_text("Your account")
    sessions = elsewhere.get_by_role("region", name="Where you're logged in")
    expect(sessions).to_contain_text("(this device)")
    expect(sessions).to_contain_text("Chrom")
