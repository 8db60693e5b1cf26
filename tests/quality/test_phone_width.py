"""Every page fits a 320 px wide phone: the page itself never scrolls sideways.

One context 320 px wide for everything. Every page of the inventory (public, member, staff and
admin pages, and the forms re-shown with errors) is shown as the exact bytes the app sent, on
the app's own origin so the real stylesheet applies (as the axe audit does); then a reader
really browses: the Menu opens without JavaScript, a member logs in from it and opens
/account, and a staff member opens the staff pages.
"""

from __future__ import annotations

import pytest

from tests.quality import pages as inventory
from tests.quality.test_axe import STYLES_LOADED, WRITE
from tests.quality.test_pages import RENDERED_KEYS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 320, "height": 640}
SCROLL_WIDTH = "document.documentElement.scrollWidth"
#: what makes the page wide, to say in a failure what to fix: from <body> down, the child
#: whose hiding brings the page back to the phone's width, as deep as that goes
CULPRIT = """(width) => {
  const fits = () => document.documentElement.scrollWidth <= width;
  let node = document.body;
  const path = [];
  for (let depth = 0; depth < 30; depth++) {
    const found = [...node.children].find(child => {
      const before = child.style.display;
      child.style.display = 'none';
      const ok = fits();
      child.style.display = before;
      return ok;
    });
    if (!found) break;
    path.push(found.tagName.toLowerCase() + (found.className ? '.' + found.className : ''));
    node = found;
  }
  return path.join(' > ') + ': ' + node.outerHTML.slice(0, 200);
}"""


@pytest.fixture(scope="session")
def phone(browser, live_url):
    context = browser.new_context(base_url=live_url, viewport=PHONE, java_script_enabled=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.goto("/healthz")
    yield tab
    context.close()


def overflow(tab) -> str:
    width = tab.evaluate(SCROLL_WIDTH)
    if width <= PHONE["width"]:
        return ""
    return f"scrollWidth {width}px, because of {tab.evaluate(CULPRIT, PHONE['width'])}"


@pytest.mark.parametrize("key", RENDERED_KEYS)
def test_page_fits_a_320px_phone(rendered, phone, live_url, key):
    item = rendered[key]
    assert not item.page.reason, item.page.reason
    if not item.is_html or not item.body.lstrip().lower().startswith("<!doctype html"):
        return  # JSON, SVG, CSV, calendars and PDFs are not laid out on a phone
    if not phone.url.startswith(live_url):
        phone.goto("/healthz")
    phone.evaluate(WRITE, item.body)
    phone.wait_for_function(STYLES_LOADED)
    assert phone.evaluate("innerWidth") == PHONE["width"]
    problem = overflow(phone)
    assert not problem, f"{item.page.method} {item.page.url} as {item.page.role}: {problem}"


def test_the_check_can_fail(phone, live_url):
    phone.goto("/healthz")
    # (inline styles are refused by the site's Content-Security-Policy: a long word instead)
    phone.evaluate(WRITE, '<!doctype html><html lang="en"><title>x</title><p>' + "W" * 60)
    assert "WWWW" in overflow(phone)


def log_in_from_the_menu(tab, role: str) -> None:
    from playwright.sync_api import expect

    menu = tab.locator("details.menu")
    tab.get_by_text("Menu", exact=True).click()
    expect(menu).to_have_attribute("open", "")
    menu.get_by_role("link", name="Log in").click()
    email, password = inventory.DEMO[role]
    form = tab.locator("main")
    form.get_by_label("Email", exact=True).fill(email)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Log in").click()
    tab.wait_for_load_state()
    assert "/login" not in tab.url, f"demo {role} could not log in on a phone"


def log_out_from_the_menu(tab) -> None:
    tab.get_by_text("Menu", exact=True).click()
    tab.locator("details.menu").get_by_role("button", name="Log out").click()
    tab.wait_for_load_state()


def test_a_reader_a_member_and_staff_browse_on_a_320px_phone(phone):
    """The real pages, navigated: the masthead is one row, the Menu (a <details>) opens and
    fits, and a member's /account and the staff pages don't scroll sideways."""
    from playwright.sync_api import expect

    phone.context.clear_cookies()
    phone.goto("/")
    header = phone.locator(".masthead").bounding_box()
    brand = phone.locator(".brand").bounding_box()
    summary = phone.get_by_text("Menu", exact=True).bounding_box()
    assert header and brand and summary
    assert abs(brand["y"] - summary["y"]) < brand["height"], "masthead and Menu not in one row"
    assert header["height"] < 80, f"the masthead is {header['height']}px tall on a phone"
    # the sections are in the closed menu, not on the page
    expect(phone.get_by_role("link", name="Fighting fund", exact=True)).to_have_count(0)
    phone.get_by_text("Menu", exact=True).click()
    panel = phone.locator(".menu-panel")
    expect(panel.get_by_role("link", name="Fighting fund", exact=True)).to_be_visible()
    assert not overflow(phone), overflow(phone)
    box = panel.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    panel.get_by_role("link", name="Events", exact=True).click()
    expect(phone.get_by_role("heading", level=1)).to_be_visible()
    assert not overflow(phone), overflow(phone)

    log_in_from_the_menu(phone, "member")
    phone.goto("/account")
    expect(phone.get_by_role("heading", level=1, name="Your account")).to_be_visible()
    assert not overflow(phone), "/account: " + overflow(phone)
    # the tables stack, each value under its label, and every column is on screen
    status = phone.locator("td[data-label=Status]").first
    expect(status).to_be_visible()
    right = status.bounding_box()
    assert right and right["x"] + right["width"] <= PHONE["width"]
    log_out_from_the_menu(phone)

    log_in_from_the_menu(phone, "staff")
    for path in ("/staff", "/staff/fund", "/staff/enquiries", "/staff/events"):
        phone.goto(path)
        assert not overflow(phone), f"{path}: {overflow(phone)}"
    log_out_from_the_menu(phone)
    expect(phone.get_by_text("Menu", exact=True)).to_be_visible()
