"""The fund widget's iframe sizes, in one place: the widget page, the staff embed page
(/staff/fund/embed) and the README give these snippets, and tests/e2e/test_embed.py loads the
widget in an iframe of each size and checks that "Donate today" is fully inside it.

The heights were measured in Chromium (``document.documentElement.scrollHeight`` of
/fund/widget with the demo campaign, a name over two lines) and given room for one more
line, e.g. a longer campaign name or "Last day — 5 hours left": 275 px at 300 and 320 wide,
206 px at 400.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import escape

from coop.urls import external_url


@dataclass(frozen=True)
class Size:
    width: int
    height: int
    label: str


#: the widths we name, narrowest first; heights in CSS pixels
SIZES: tuple[Size, ...] = (
    Size(300, 300, "narrow column"),
    Size(320, 300, "phone-width column (the usual)"),
    Size(400, 240, "wide column"),
)
#: the size the README and the staff page show first
DEFAULT_WIDTH = 320
#: the badge SVG's own size (templates/fund/badge.svg): the README used to stretch it
BADGE_WIDTH, BADGE_HEIGHT = 280, 48


def size(width: int = DEFAULT_WIDTH) -> Size:
    for item in SIZES:
        if item.width == width:
            return item
    raise KeyError(width)


def widget_snippet(width: int = DEFAULT_WIDTH, *, base_url: str | None = None) -> str:
    """The ``<iframe>`` to paste into an article page (links from ``BASE_URL``)."""
    item = size(width)
    src = (base_url.rstrip("/") + "/fund/widget") if base_url else external_url("fund.widget")
    return (f'<iframe src="{escape(src)}" title="Fighting fund" width="{item.width}" '
            f'height="{item.height}"></iframe>')


#: the badge's text for people who can't see it: an <img> hides the SVG's own <title> (with
#: the figures) from screen readers, so it says where the link goes instead (QA)
BADGE_ALT = "Fighting fund: see how much we have raised this month, and give"


def badge_snippet(*, base_url: str | None = None) -> str:
    """The badge as a link to the fund's page (a bare image went nowhere)."""
    if base_url:
        src, page = base_url.rstrip("/") + "/fund/badge.svg", base_url.rstrip("/") + "/fund"
    else:
        src, page = external_url("fund.badge"), external_url("fund.index")
    return (f'<a href="{escape(page)}"><img src="{escape(src)}" alt="{BADGE_ALT}" '
            f'width="{BADGE_WIDTH}" height="{BADGE_HEIGHT}"></a>')
