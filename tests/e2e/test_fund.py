"""The fighting fund as readers and fund staff meet it.

The reader journey checks the demo figures a newcomer sees after ``make run`` (the paper's
£6,572 of £18,000 with 17 days to go), so it runs before the staff journey changes them.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from coop.fund import embed
from tests.e2e.conftest import log_in, screenshot

pytestmark = pytest.mark.browser



def fund_json(page) -> dict:
    response = page.request.get("/api/fund")
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def test_reader_sees_bar_figures_countdown_widget_and_badge(new_context, live_server,
                                                          other_site):
    context = new_context()
    page = context.new_page()
    page.goto("/")
    panel = page.get_by_role("region", name=re.compile("fighting fund", re.I))
    expect(panel).to_contain_text("You’ve raised £6,572")
    expect(panel).to_contain_text("We need £11,428")
    expect(panel).to_contain_text("17 days remaining")
    screenshot(page, "home")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Fighting fund").click()
    expect(page).to_have_url(re.compile(r"/fund$"))
    bar = page.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "36.5")
    expect(bar).to_have_accessible_name(re.compile(r"£18,000 target"))
    expect(page.get_by_text("36.5%", exact=True)).to_be_visible()
    expect(page.get_by_text("17 days remaining")).to_be_visible()
    donate = page.get_by_role("link", name="Donate today")
    expect(donate).to_have_attribute("href", "https://example.org/donate")
    expect(page.get_by_role("heading", name="Day by day")).to_be_visible()
    page.get_by_text("The figures as a table").click()
    expect(page.get_by_role("table", name=re.compile("Raised each day"))).to_be_visible()
    screenshot(page, "fund")

    figures = fund_json(page)
    assert figures["raised_pence"] == 657_200
    assert figures["remaining_pence"] == 1_142_800
    assert figures["percent"] == 36.5
    assert figures["days_remaining"] == 17
    assert figures["status"] == "open"

    # An article page on another site embeds the widget and the badge, as newspapers do.
    article_url = other_site(
        "<!doctype html><html lang='en'><title>An article</title><h1>An article</h1>"
        f"{embed.widget_snippet(base_url=live_server.url)}"
        f"<img id='badge' alt='Fighting fund' src='{live_server.url}/fund/badge.svg'>")
    article = new_context()
    reader = article.new_page()
    reader.goto(article_url)
    widget = reader.frame_locator("iframe[title='Fighting fund']")
    expect(widget.get_by_text("You’ve raised £6,572")).to_be_visible()
    expect(widget.get_by_text("17 days remaining")).to_be_visible()
    expect(widget.get_by_role("link", name="Donate today")).to_have_attribute("target", "_blank")
    badge = reader.locator("#badge")
    expect(badge).to_be_visible()
    assert badge.evaluate("img => img.complete && img.naturalWidth") == 280
    screenshot(reader, "fund-embedded")
    assert article.cookies(live_server.url) == [], "the embeds must set no cookie"

    # Opened on their own, the widget and badge say the same thing.
    page.goto("/fund/widget")
    expect(page.get_by_text("£11,428")).to_be_visible()
    screenshot(page, "fund-widget")
    response = page.goto("/fund/badge.svg")
    assert response.headers["content-type"].startswith("image/svg+xml")
    svg = response.text()
    assert "£6,572 of £18,000" in svg and "36.5%" in svg


#: the longest town the form takes, as one word: it must wrap, not widen the table
LONG_TOWN = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch" + "x" * 22


def test_staff_add_a_days_post_and_a_correction_and_everything_public_changes(
        new_context, live_server):
    reader = new_context().new_page()
    before = fund_json(reader)
    widget_before = reader.request.get("/fund/widget")
    etag_before = widget_before.headers["etag"]

    page = new_context().new_page()
    log_in(page, "staff")
    page.get_by_role("link", name="Staff", exact=True).click()
    page.get_by_role("navigation", name="Staff pages").get_by_role(
        "link", name="Fighting fund").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fighting fund")
    page.get_by_role("link", name="Add a day’s post").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a day’s post")
    expect(page.get_by_label("Source of every line")).to_have_value("post")
    page.get_by_label("Amount (£), line 1", exact=True).fill("25")
    page.get_by_label("Name, line 1", exact=True).fill("J. Smith")
    page.get_by_label("Town, line 1", exact=True).fill("Leeds")
    page.get_by_label("Line 1: Yes", exact=True).check()
    page.get_by_label("Amount (£), line 2", exact=True).fill("£12.50")
    page.get_by_label("Amount (£), line 3", exact=True).fill("1,000")
    page.get_by_label("Name, line 3", exact=True).fill("P. Jones")
    page.get_by_label("Town, line 3", exact=True).fill(LONG_TOWN)
    screenshot(page, "staff-fund-batch")
    page.get_by_role("button", name="Add all these gifts").click()
    expect(page.get_by_text("Added 3 gifts totalling £1,037.50")).to_be_visible()

    page.get_by_role("link", name="Correction").click()
    page.get_by_label("Correction (£)").fill("-12.50")
    page.get_by_label("Reason").fill("Cheque from line 2 bounced")
    page.get_by_role("button", name="Record correction").click()
    expect(page.get_by_text("Correction of -£12.50 recorded")).to_be_visible()
    # QA: an 80-letter town with no spaces widened the entries past the screen, hiding the
    # "Correct" links; it wraps now. A correction has no donor ("—", not "Anonymous").
    page.goto(page.url.split("#")[0])
    entries = page.get_by_role("table", name="The ten latest entries")
    expect(entries.get_by_role("row").filter(has_text="Cheque from line 2 bounced")
           .get_by_role("cell").nth(3)).to_have_text("—")
    expect(entries.get_by_text(LONG_TOWN, exact=False)).to_be_visible()
    assert entries.evaluate("t => t.parentElement.scrollWidth <= t.parentElement.clientWidth")

    # A reader sees the new figures at once: page, widget, badge and JSON all agree.
    added = 102_500
    raised = before["raised_pence"] + added
    after = fund_json(reader)
    assert after["raised_pence"] == raised
    assert after["remaining_pence"] == max(after["target_pence"] - raised, 0)
    assert after["updated_at"] >= before["updated_at"]
    raised_text = f"£{raised / 100:,.0f}"

    reader.goto("/fund")
    expect(reader.get_by_text(raised_text).first).to_be_visible()
    expect(reader.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", str(after["percent"]))
    expect(reader.get_by_text(re.compile("Thanks to .*J\\. Smith of Leeds"))).to_be_visible()
    widget = reader.request.get("/fund/widget")
    assert widget.headers["etag"] != etag_before
    assert raised_text in widget.text()
    assert raised_text in reader.request.get("/fund/badge.svg").text()
    again = reader.request.get("/api/fund", headers={"If-None-Match": widget.headers["etag"]})
    assert again.status in (200, 304)
    assert json.loads(reader.request.get("/api/fund").text())["percent"] == after["percent"]
