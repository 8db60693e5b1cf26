"""The fund widget in an article page's iframe, at every size coop/fund/embed.py names: the
"Donate today" button is wholly inside the frame, with nothing to scroll to. The host pages
are as article pages are: one plain, one with ``box-sizing: border-box`` on everything (the
iframe's own 2 px border then comes out of the size given)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from coop.fund import embed
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser

HOSTS = {
    "plain": "",
    "border-box": "<style>*, *::before, *::after { box-sizing: border-box; }</style>",
}


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("width", [s.width for s in embed.SIZES])
def test_donate_button_is_fully_visible_at_each_named_size(new_context, live_server,
                                                           other_site, width, host):
    snippet = embed.widget_snippet(width, base_url=live_server.url)
    size = embed.size(width)
    assert f'width="{size.width}" height="{size.height}"' in snippet
    article_url = other_site(
        "<!doctype html><html lang='en'><head><title>An article</title>"
        f"{HOSTS[host]}</head><body><h1>An article</h1><p>Some text.</p>{snippet}</body></html>",
        path=f"/article-{host}-{width}.html")
    page = new_context(viewport={"width": 1000, "height": 900}).new_page()
    page.goto(article_url)
    frame_element = page.locator("iframe[title='Fighting fund']")
    box = frame_element.bounding_box()
    # the size given, plus the browser's 2 px border each side on a content-box page
    border = 0 if host == "border-box" else 4
    assert (round(box["width"]), round(box["height"])) == (size.width + border,
                                                           size.height + border)
    widget = page.frame_locator("iframe[title='Fighting fund']")
    donate = widget.get_by_role("link", name="Donate today")
    expect(donate).to_be_visible()
    # inside the frame's own viewport, measured in the frame
    frame = frame_element.element_handle().content_frame()
    view = frame.evaluate("({w: window.innerWidth, h: window.innerHeight, "
                          "sh: document.documentElement.scrollHeight, "
                          "sw: document.documentElement.scrollWidth})")
    rect = donate.evaluate("a => { const r = a.getBoundingClientRect(); "
                           "return {top: r.top, left: r.left, bottom: r.bottom, right: r.right}; }")
    assert rect["top"] >= 0 and rect["left"] >= 0
    assert rect["bottom"] <= view["h"], f"button ends at {rect['bottom']}, frame is {view}"
    assert rect["right"] <= view["w"], f"button ends at {rect['right']}, frame is {view}"
    assert view["sh"] <= view["h"] and view["sw"] <= view["w"], f"the widget scrolls: {view}"
    # and the page's own view of it: the button's box lies within the iframe's box
    outer = donate.bounding_box()
    assert outer["y"] + outer["height"] <= box["y"] + box["height"]
    assert outer["x"] + outer["width"] <= box["x"] + box["width"]
    if host == "plain" and width == embed.DEFAULT_WIDTH:
        screenshot(page, "fund-embedded-snippet")


def test_the_test_can_fail_a_frame_too_short(new_context, live_server, other_site):
    """At the README's old 320 × 180 the button is cut off: the check above would say so."""
    article_url = other_site(
        "<!doctype html><html lang='en'><title>Old snippet</title>"
        f"<iframe src='{live_server.url}/fund/widget' title='Fighting fund' width='320' "
        "height='180'></iframe>", path="/old.html")
    page = new_context().new_page()
    page.goto(article_url)
    frame = page.locator("iframe").element_handle().content_frame()
    bottom = frame.get_by_role("link", name="Donate today").evaluate(
        "a => a.getBoundingClientRect().bottom")
    assert bottom > frame.evaluate("window.innerHeight")


def test_staff_embed_page_gives_the_snippets(new_context, live_server):
    from tests.e2e.conftest import log_in

    page = new_context().new_page()
    log_in(page, "staff")
    page.goto("/staff/fund")
    page.get_by_role("link", name="Put the fund on an article page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Put the fund on an article page")
    for size in embed.SIZES:
        expect(page.get_by_text(embed.widget_snippet(size.width, base_url=live_server.url)))\
            .to_be_visible()
    preview = page.frame_locator("iframe[title='Fighting fund']")
    expect(preview.get_by_role("link", name="Donate today")).to_be_visible()
    screenshot(page, "staff-fund-embed")
