"""axe-core finds no violations on any page; the fund bar, focus and skip link work.

The seeded app is served on 127.0.0.1 from a thread and driven by Debian's Chromium (one
browser, one context per role, for all pages: the fixtures are in conftest.py).
"""

from __future__ import annotations

import re

import pytest

from tests.quality.test_pages import RENDERED_KEYS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

@pytest.fixture(scope="session")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        targets = [", ".join(map(str, node.get("target", []))) for node in violation["nodes"]]
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — "
                     f"{'; '.join(targets[:5])}")
    return "\n".join(lines)


# document.open() keeps the window, so axe (injected once) survives from page to page; the
# stylesheets are awaited before the audit so colour contrast is judged with the real CSS.
WRITE = """html => { document.open(); document.write(html); document.close(); }"""
STYLES_LOADED = """() => document.readyState === 'complete' &&
  [...document.querySelectorAll('link[rel=stylesheet]')].every(l => l.sheet)"""


def audit(tab, axe, body: str, then: str | None = None):
    from axe_playwright_python.base import AxeResults

    if not tab.evaluate("typeof window.axe === 'object'"):
        tab.evaluate(axe.axe_script)
    tab.evaluate(WRITE, body)
    tab.wait_for_function(STYLES_LOADED)
    if then:
        tab.evaluate(then)
    return AxeResults(tab.evaluate("axe.run(document, {resultTypes: ['violations']})"))


@pytest.mark.parametrize("key", RENDERED_KEYS)
def test_axe_finds_no_violations(rendered, browser_pages, live_url, axe, key):
    item = rendered[key]
    assert not item.page.reason, item.page.reason
    if not item.is_html:
        return  # JSON, SVG, CSV and calendars are checked for headers, not as pages
    # The exact page the app sent (fetched once, as its role, by the inventory), shown on the
    # app's own origin so its stylesheets load: no second request can change or use it up.
    tab = browser_pages["anonymous"]
    if not tab.url.startswith(live_url):
        tab.goto("/healthz")
    results = audit(tab, axe, item.body)
    violations = results.response["violations"]
    assert not violations, f"{item.page.method} {item.page.url}:\n{describe(violations)}"


def test_axe_audit_can_fail_and_sees_the_real_css(browser_pages, live_url, axe, rendered):
    tab = browser_pages["anonymous"]
    tab.goto("/healthz")
    bad = '<!doctype html><html><title>x</title><img src="/x.png"><input></html>'
    ids = {v["id"] for v in audit(tab, axe, bad).response["violations"]}
    assert {"image-alt", "html-has-lang", "label"} <= ids
    audit(tab, axe, rendered["main.index"].body)
    assert tab.evaluate("getComputedStyle(document.querySelector('.skip-link')).position") == (
        "absolute"), "the site's stylesheet was not applied to the audited page"
    fade = "() => document.querySelectorAll('main p').forEach(p => { p.style.color = '#ddd'; })"
    ids = {v["id"] for v in audit(tab, axe, rendered["main.index"].body, fade)
           .response["violations"]}
    assert "color-contrast" in ids


def test_fund_bar_has_an_accessible_name_and_value(browser_pages, rendered):
    from playwright.sync_api import expect

    tab = browser_pages["anonymous"]
    tab.goto(rendered["fund.index"].page.url)
    bar = tab.get_by_role("progressbar")
    expect(bar.first).to_be_attached()
    for i in range(bar.count()):
        one = bar.nth(i)
        expect(one).to_have_accessible_name(re.compile(r"\S"))
        now = one.get_attribute("aria-valuenow")
        assert now is not None and 0 <= float(now) <= float(one.get_attribute("aria-valuemax")
                                                              or 100)
        assert one.get_attribute("aria-valuetext") or one.get_attribute("aria-valuemax")


def test_skip_link_works_from_the_keyboard(browser_pages):
    tab = browser_pages["anonymous"]
    tab.goto("/")
    tab.keyboard.press("Tab")
    focused = tab.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to main content"
    box = tab.locator(".skip-link").bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0, "the focused skip link is off screen"
    tab.keyboard.press("Enter")
    assert tab.url.endswith("#main")
    assert tab.evaluate("document.activeElement.id") == "main"
    tab.keyboard.press("Tab")
    inside = tab.evaluate("document.querySelector('main').contains(document.activeElement)")
    assert inside, "Tab after the skip link should move into the main content"


FOCUS_STYLE = """() => {
  const el = document.activeElement;
  const s = getComputedStyle(el);
  return {tag: el.tagName, text: (el.textContent || el.name || '').trim().slice(0, 40),
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
          shadow: s.boxShadow !== 'none'};
}"""


@pytest.mark.parametrize("key", ["main.index", "accounts.login", "shares.index", "fund.index"])
def test_focus_is_visible_on_everything_reached_by_tab(browser_pages, rendered, key):
    if key not in rendered or rendered[key].page.reason:
        pytest.fail(f"{key} is not in the inventory")
    tab = browser_pages["anonymous"]
    tab.goto(rendered[key].page.url)
    seen = []
    for _ in range(25):
        tab.keyboard.press("Tab")
        state = tab.evaluate(FOCUS_STYLE)
        if state["tag"] == "BODY":
            break
        seen.append(state)
        assert state["outline"] or state["shadow"], f"no visible focus on {state}"
    assert len(seen) >= 3


def test_members_only_refusal_page_is_valid_and_accessible(site, clients, browser_pages,
                                                           live_url, axe, tmp_path):
    """The 403 "Log in to see this" that a logged-out visitor gets for a members-only event's
    link (not in the inventory: the inventory fetches each route once, as its role)."""
    import json
    import shutil
    import subprocess

    import sqlalchemy as sa

    from coop.extensions import db
    from tests.quality.test_pages import _vnu_jar

    with site.app_context():
        slug = db.session.execute(sa.text(
            "SELECT slug FROM events WHERE visibility = 'members' AND status = 'published' "
            "ORDER BY id")).scalar()
    assert slug, "the demo data has a members-only event"
    response = clients["anonymous"].get(f"/events/{slug}")
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "Log in to see this" in body
    page = tmp_path / "members-only.html"
    page.write_text(body, encoding="utf-8")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [shutil.which("java"), "-jar", str(_vnu_jar()), "--format", "json", "--errors-only",
         str(page)], capture_output=True, text=True, timeout=120)
    errors = [m for m in json.loads(result.stderr or result.stdout)["messages"]
              if m.get("type") in ("error", "non-document-error")]
    assert not errors, errors
    tab = browser_pages["anonymous"]
    if not tab.url.startswith(live_url):
        tab.goto("/healthz")
    violations = audit(tab, axe, body).response["violations"]
    assert not violations, describe(violations)
