"""A reader subscribes to the newsletter and confirms from the email."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def test_reader_subscribes_and_confirms_from_the_email(new_context, live_server):
    email = f"nadia-{uuid.uuid4().hex[:8]}@example.org"
    page = new_context().new_page()
    page.goto("/")
    # The footer offers the newsletter on every page; the main navigation leads to its page.
    expect(page.get_by_role("contentinfo").get_by_role("button", name="Sign up")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Newsletter").click()
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", level=1)).to_have_text("Sign up to our newsletter")
    screenshot(page, "newsletter")

    main.get_by_label("Email", exact=True).fill(email)
    main.get_by_label("Name (optional)").fill("Nadia Reader")
    topics = main.get_by_role("group", name=re.compile("Send me emails about"))
    boxes = topics.get_by_role("checkbox")
    expect(boxes.first).to_be_checked()  # every topic is offered ticked
    count = boxes.count()
    assert count >= 2
    boxes.last.uncheck()
    main.get_by_role("checkbox", name=re.compile("yes, email me", re.I)).check()
    main.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    message = live_server.mail_to(email, "confirm")
    links = [u for u in live_server.links_in(message) if "confirm" in u]
    assert links, message.get_body(preferencelist=("plain",)).get_content()

    reader = new_context(phone=True).new_page()
    reader.goto(links[0])
    expect(reader.get_by_role("heading", level=1)).to_have_text("Confirm your subscription")
    reader.get_by_role("button", name="Confirm").click()
    expect(reader.get_by_role("heading", level=1)).to_have_text("You're subscribed")
    # A second click on the used link does not fail badly.
    response = reader.goto(links[0])
    assert response.status < 500

    staff = new_context().new_page()
    log_in(staff, "staff")
    staff.goto("/staff")
    staff.get_by_role("navigation", name="Staff pages").get_by_role(
        "link", name=re.compile("newsletter", re.I)).first.click()
    expect(staff.get_by_role("main")).to_contain_text(re.compile(r"confirmed", re.I))
