"""Staff post a site notice; readers see it on every page and can dismiss it (no JavaScript)."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def test_staff_post_a_notice_and_a_reader_dismisses_it(new_context, live_server):
    text = f"Printing delayed tonight ({uuid.uuid4().hex[:6]})"
    staff = new_context().new_page()
    log_in(staff, "staff")
    staff.goto("/staff")
    staff.get_by_role("navigation", name="Staff pages").get_by_role(
        "link", name=re.compile("notice", re.I)).first.click()
    staff.get_by_role("link", name=re.compile(r"new notice|add a notice|post a notice",
                                              re.I)).first.click()
    staff.get_by_label(re.compile(r"^(text|message|notice)", re.I)).first.fill(text)
    staff.get_by_role("button", name=re.compile(r"save|publish|post|create", re.I)).click()
    expect(staff.get_by_text(text).first).to_be_visible()

    reader = new_context().new_page()
    for path in ("/", "/events", "/fund"):
        reader.goto(path)
        banner = reader.get_by_role("status").filter(has_text=text)
        expect(banner).to_be_visible()
    screenshot(reader, "notice")
    banner.get_by_role("button", name=re.compile("dismiss|hide|close", re.I)).click()
    expect(reader).to_have_url(re.compile(r"/fund$"))  # back where the reader was
    expect(reader.get_by_text(text)).to_have_count(0)
    reader.goto("/")
    expect(reader.get_by_text(text)).to_have_count(0)

    # Someone else still sees it: the dismissal belongs to that reader's browser.
    other = new_context().new_page()
    other.goto("/")
    expect(other.get_by_role("status").filter(has_text=text)).to_be_visible()
