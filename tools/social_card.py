"""Draws coop/static/social-card.png, the 1200×630 picture a shared link shows (og:image).

Run once when the site's name or colours change (``python -m tools.social_card``); the PNG is
committed. It is an HTML page in the paper's colours photographed by Debian's Chromium
through Playwright, so it needs no image library.
"""

from __future__ import annotations

import html

from coop import ROOT
from coop.config import Config

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1200, 630
OUT = ROOT / "coop" / "static" / "social-card.png"


def card_html(site_name: str, tagline: str) -> str:
    mark = (ROOT / "coop" / "static" / "favicon.svg").read_text()
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
html, body {{ margin: 0; width: {WIDTH}px; height: {HEIGHT}px; }}
body {{ background: #f4f1ea; color: #1a1a1a; font-family: "Liberation Serif", "DejaVu Serif",
  Georgia, serif; display: flex; flex-direction: column; }}
.band {{ background: #b0161e; color: #fff; padding: 56px 72px 48px; display: flex;
  align-items: center; gap: 40px; }}
.band svg {{ width: 150px; height: 150px; flex: none; outline: 4px solid #fff;
  border-radius: 20px; }}
h1 {{ font-size: 92px; line-height: 1; margin: 0; letter-spacing: -1px; }}
p {{ margin: 0; padding: 54px 72px 0; font-size: 48px; line-height: 1.25; }}
.rule {{ margin: auto 72px 56px; border-top: 6px double #1a1a1a; padding-top: 18px;
  font: 30px "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: #4a4a4a; }}
</style></head><body>
<div class="band">{mark}<h1>{html.escape(site_name)}</h1></div>
<p>{html.escape(tagline)}</p>
<div class="rule">Fighting fund · Shares · Events · Newsletter</div>
</body></html>"""


def main() -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.set_content(card_html(Config.SITE_NAME, "The daily paper owned by its readers"))
        page.screenshot(path=str(OUT), full_page=False)
        browser.close()
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
