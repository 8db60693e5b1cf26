"""``make screenshots``: full-page pictures of every page at 320, 390 and 1366 px wide, into
docs/screenshots/ as ``<page>-<width>.png``.

The pages are the public ones of the page inventory (tests/quality/pages.py, with URLs found in
the demo data), plus a member's /account and the staff dashboard, logged in as the demo
accounts; each is opened in Debian's Chromium (Playwright) on the app started as ``make run``
starts it. Feeds, calendars and JSON are left out (only HTML pages are photographed).
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.request

from coop import ROOT
from tools.serve import demo_server

CHROMIUM = "/usr/bin/chromium"
WIDTHS = (320, 390, 1366)
HEIGHT = {320: 640, 390: 844, 1366: 900}
OUT = ROOT / "docs" / "screenshots"
LOG = ROOT / "test-artifacts" / "screenshots-server.log"
#: pages behind a login that are photographed too, with the role that opens them
LOGGED_IN = {"accounts.account": "member", "main.staff_dashboard": "staff"}


def inventory_pages(server) -> list[tuple[str, str, str]]:
    """(key, path, role) for each page to photograph, from the running server's database."""
    os.environ.update(COOP_INSTANCE_PATH=str(server.instance), COOP_ENV="development",
                      COOP_BASE_URL=server.url)
    os.environ.pop("DATABASE_URL", None)
    from coop import create_app
    from coop.extensions import db
    from tests.quality import pages as inventory

    app = create_app()
    with app.app_context():
        built = inventory.build(app, db.session)
        db.session.remove()
        db.engine.dispose()
    chosen = []
    for page in built:
        if page.method != "GET" or page.reason:
            continue
        if page.endpoint in LOGGED_IN:
            chosen.append((page.endpoint, page.url, LOGGED_IN[page.endpoint]))
        elif page.role == "anonymous" and _is_html_page(server.url + page.url):
            chosen.append((page.endpoint, page.url, "anonymous"))
    return chosen


def _is_html_page(url: str) -> bool:
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - our own server
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status == 200 and response.headers.get_content_type() == "text/html"
    except OSError:
        return False


def log_in(context, base: str, role: str) -> None:
    from tests.quality.pages import DEMO

    email, password = DEMO[role]
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.locator("form[action^='/login'] [type=submit]").click()
    page.wait_for_load_state()
    if "/login" in page.url:
        raise SystemExit(f"the demo {role} could not log in")
    page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[],
                        help="photograph only pages whose key contains one of these")
    parser.add_argument("--widths", nargs="*", type=int, default=list(WIDTHS))
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    taken = 0
    with demo_server(LOG) as server, sync_playwright() as playwright:
        pages = [p for p in inventory_pages(server)
                 if not args.only or any(word in p[0] for word in args.only)]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for width in args.widths:
            contexts = {}
            for key, path, role in pages:
                if role not in contexts:
                    contexts[role] = browser.new_context(
                        viewport={"width": width, "height": HEIGHT.get(width, 900)},
                        locale="en-GB", timezone_id="Europe/London",
                        is_mobile=width < 800, has_touch=width < 800)
                    if role != "anonymous":
                        log_in(contexts[role], server.url, role)
                page = contexts[role].new_page()
                response = page.goto(server.url + path)
                status = response.status if response else 0
                target = OUT / f"{key}-{width}.png"
                page.screenshot(path=str(target), full_page=True)
                page.close()
                taken += 1
                print(f"{status} {path} as {role} -> {target.relative_to(ROOT)}", flush=True)
            for context in contexts.values():
                context.close()
        browser.close()
    print(f"{taken} screenshots in {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
