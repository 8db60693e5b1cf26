"""Printed, a page is its content only: the fund's paragraph for the paper, a ledger, an
attendee list and a certificate print without the banner, navigation, footer or buttons."""

from __future__ import annotations

import pytest

from tests.quality.test_axe import STYLES_LOADED, WRITE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: page key -> what must print
CONTENT = {
    "fund_staff.report": ".fund-report",
    "fund_staff.ledger": "main table",
    "events_staff.attendees": "main h1",
    "register.certificate": ".certificate",
    "fund.index": ".fund-chart-wide",
}
#: what never prints
CHROME = [".site-notices", ".section-nav", ".account-nav", "details.menu", ".site-footer",
          "main button", "main .button", ".fund-chart-narrow"]
SHOWN = "sel => [...document.querySelectorAll(sel)].some(e => e.getClientRects().length > 0)"


@pytest.fixture(scope="module")
def paper(browser, live_url):
    context = browser.new_context(base_url=live_url)
    tab = context.new_page()
    tab.goto("/healthz")
    tab.emulate_media(media="print")
    yield tab
    context.close()


@pytest.mark.parametrize("key", list(CONTENT))
def test_print_shows_the_content_without_the_site_around_it(rendered, paper, key):
    item = rendered[key]
    assert not item.page.reason, item.page.reason
    paper.evaluate(WRITE, item.body)
    paper.wait_for_function(STYLES_LOADED)
    assert paper.evaluate(SHOWN, CONTENT[key]), f"{CONTENT[key]} does not print"
    printed = [sel for sel in CHROME if paper.evaluate(SHOWN, sel)]
    assert not printed, f"{item.page.url} prints {printed}"
    # the paper's name stays, in black
    assert paper.evaluate("getComputedStyle(document.querySelector('.brand')).color") in (
        "rgb(0, 0, 0)",) or key == "register.certificate"


def test_the_same_page_on_screen_shows_what_print_leaves_out(browser, live_url, rendered):
    """The check above can fail: on screen the footer and navigation are there."""
    context = browser.new_context(base_url=live_url)
    tab = context.new_page()
    tab.goto("/healthz")
    tab.evaluate(WRITE, rendered["fund.index"].body)
    tab.wait_for_function(STYLES_LOADED)
    assert tab.evaluate(SHOWN, ".site-footer") and tab.evaluate(SHOWN, ".section-nav")
    context.close()
