"""Every public page tells search engines and shared links what it is: a description of its own,
a canonical address and Open Graph tags, all absolute on ``BASE_URL``."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urlsplit

from tests.quality import pages as inventory

#: public pages that may keep the site's own description (steps in a flow, not for search
#: engines), with the reason; any other public page needs one of its own, except the links
#: with a token (emailed, never indexed)
DEFAULT_DESCRIPTION_OK = {
    "accounts.forgot_sent": "the step after asking for a reset link",
    "accounts.login_code": "the second step of logging in",
    "newsletter.check_email": "the step after signing up",
    "shares.thanks": "the step after sending an enquiry",
}
OG_REQUIRED = ("og:title", "og:description", "og:type", "og:image", "og:site_name")


class HeadMeta(HTMLParser):
    """The <meta> and <link> tags of a page's <head>."""

    def __init__(self):
        super().__init__()
        self.meta: dict[str, list[str]] = {}
        self.links: dict[str, list[str]] = {}
        self.in_head = True

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "body":
            self.in_head = False
        if not self.in_head:
            return
        if tag == "meta":
            key = values.get("name") or values.get("property")
            if key:
                self.meta.setdefault(key, []).append(values.get("content") or "")
        elif tag == "link" and values.get("rel"):
            self.links.setdefault(values["rel"], []).append(values.get("href") or "")


def head_meta(body: str) -> HeadMeta:
    parser = HeadMeta()
    parser.feed(body)
    return parser


def public_pages(rendered) -> dict:
    """The public HTML pages that rendered (one per endpoint)."""
    return {key: item for key, item in rendered.items()
            if "--" not in key and item.page.role == "anonymous" and item.is_html
            and item.status == 200}


def test_the_public_pages_are_there(rendered):
    keys = set(public_pages(rendered))
    assert {"main.index", "fund.index", "fund.archive", "fund.widget", "events.index",
            "events.event", "events.past", "events.series", "shares.index", "shares.privacy",
            "newsletter.signup", "accounts.login"} <= keys


def test_every_public_page_has_a_description_of_its_own(rendered, site):
    default = site.config["SITE_DESCRIPTION"]
    descriptions, missing = {}, []
    for key, item in public_pages(rendered).items():
        found = head_meta(item.body).meta.get("description", [])
        assert len(found) == 1, f"{item.page.url}: {len(found)} meta descriptions"
        text = found[0].strip()
        assert len(text) >= 40, f"{item.page.url}: description too short: {text!r}"
        assert "<" not in text and "\n" not in text, f"{item.page.url}: {text!r}"
        if text == default and key not in {*DEFAULT_DESCRIPTION_OK, *token_endpoints(site)}:
            missing.append(key)
        canonical = head_meta(item.body).links.get("canonical", [item.page.url])[0]
        descriptions[canonical] = text  # two addresses of one page may share it
    assert not missing, ("pages with the site's default description (give each its own, or "
                         f"list it in DEFAULT_DESCRIPTION_OK with why): {missing}")
    repeated = {text: n for text, n in Counter(descriptions.values()).items()
                if n > 1 and text != default}
    assert not repeated, f"pages sharing a description: {repeated}"
    stale = set(DEFAULT_DESCRIPTION_OK) - set(inventory.page_keys(site))
    assert not stale, f"DEFAULT_DESCRIPTION_OK lists routes that no longer exist: {stale}"


def test_open_graph_tags_are_absolute_on_the_base_url(rendered, site, clients):
    base = site.config["BASE_URL"].rstrip("/") + "/"
    for key, item in public_pages(rendered).items():
        head = head_meta(item.body)
        where = f"{item.page.url} ({key})"
        for name in OG_REQUIRED:
            values = head.meta.get(name, [])
            assert len(values) == 1 and values[0].strip(), f"{where}: {name} is {values}"
        assert head.meta["og:description"] == head.meta["description"], where
        assert head.meta.get("twitter:card") == ["summary_large_image"], where
        image = head.meta["og:image"][0]
        assert image.startswith(base), f"{where}: og:image {image} is not on {base}"
        if item.page.endpoint in token_endpoints(site):
            assert "canonical" not in head.links and "og:url" not in head.meta, where
            assert head.meta.get("robots") == ["noindex"], f"{where}: a link with a token"
            continue
        canonical = head.links.get("canonical", [])
        assert len(canonical) == 1, f"{where}: canonical links {canonical}"
        assert canonical[0].startswith(base), f"{where}: canonical {canonical[0]}"
        if key not in ("fund.campaign", "fund.widget"):  # both repeat /fund
            assert urlsplit(canonical[0]).path == urlsplit(item.page.url).path, where
        assert head.meta.get("og:url") == canonical, where
    card = clients["anonymous"].get(urlsplit(image).path)
    assert card.status_code == 200 and card.mimetype == "image/png"
    assert card.get_data()[16:24] == (1200).to_bytes(4, "big") + (630).to_bytes(4, "big")
    card.close()


def test_the_current_campaign_at_its_own_address_names_fund_as_canonical(rendered, site):
    """The demo's first campaign is this month's: /fund/<slug> is /fund under another name."""
    head = head_meta(rendered["fund.campaign"].body)
    assert head.links["canonical"] == [site.config["BASE_URL"].rstrip("/") + "/fund"]
    assert head_meta(rendered["fund.index"].body).meta["description"] == head.meta["description"]


def test_token_pages_are_checked(rendered, site):
    """The rule for links with a token is really exercised (the emailed manage links)."""
    checked = set(public_pages(rendered)) & token_endpoints(site)
    assert {"newsletter.manage", "events.manage"} <= checked


def token_endpoints(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules() if "token" in rule.arguments}
