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
    staff.get_by_role("link", name="Staff", exact=True).click()
    staff.get_by_role("navigation", name="Staff pages").get_by_role(
        "link", name=re.compile("notice", re.I)).first.click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Site notices")
    staff.get_by_role("link", name="New notice").click()
    form = staff.get_by_role("main")
    form.get_by_label("Text", exact=True).fill(text)
    form.get_by_label("Level").select_option(label="Warning")
    expect(form.get_by_label("Starts (London time)")).not_to_have_value("")  # defaults to now
    form.get_by_role("button", name="Save notice").click()
    current = staff.get_by_role("table", name="Current notices")
    expect(current).to_contain_text(text)

    reader = new_context().new_page()
    for path in ("/", "/events", "/fund"):
        reader.goto(path)
        banner = reader.get_by_role("status").filter(has_text=text)
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Warning:")
    screenshot(reader, "notice")
    banner.get_by_role("button", name=re.compile("Dismiss")).click()
    expect(reader).to_have_url(re.compile(r"/fund$"))  # back where the reader was
    expect(reader.get_by_text(text)).to_have_count(0)
    reader.goto("/")
    expect(reader.get_by_text(text)).to_have_count(0)

    # Someone else still sees it: the dismissal belongs to that reader's browser.
    other = new_context().new_page()
    other.goto("/")
    expect(other.get_by_role("status").filter(has_text=text)).to_be_visible()

    # Staff change the notice: it shows again, even to the reader who dismissed it.
    changed = text + ", back tomorrow"
    current.get_by_role("row").filter(has_text=text).get_by_role("link", name=re.compile(
        "^Edit")).click()
    staff.get_by_role("main").get_by_label("Text", exact=True).fill(changed)
    staff.get_by_role("main").get_by_role("button", name="Save notice").click()
    reader.goto("/")
    expect(reader.get_by_role("status").filter(has_text=changed)).to_be_visible()
