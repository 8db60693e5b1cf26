"""The embed sizes live in coop/fund/embed.py: the README, the widget and the staff page say
the same, and only staff open the staff page."""

from __future__ import annotations

import re

from coop import ROOT
from coop.fund import embed


def test_readme_gives_every_named_size_and_nothing_else():
    readme = (ROOT / "README.md").read_text()
    base = "https://paper.example"
    for size in embed.SIZES:
        assert embed.widget_snippet(size.width, base_url=base) in readme
    sizes = re.findall(r'<iframe src="[^"]*/fund/widget"[^>]*width="(\d+)" height="(\d+)"',
                       readme)
    assert sorted((int(w), int(h)) for w, h in sizes) == sorted(
        (s.width, s.height) for s in embed.SIZES)
    assert embed.badge_snippet(base_url=base) in readme


def test_badge_snippet_has_the_svgs_own_size():
    svg = (ROOT / "templates" / "fund" / "badge.svg").read_text()
    assert f'width="{embed.BADGE_WIDTH}" height="{embed.BADGE_HEIGHT}"' in svg


def test_staff_page_gives_each_snippet_from_base_url(app, client, campaign_id, login_as):
    from markupsafe import escape

    login_as("staff")
    html = client.get("/staff/fund/embed").get_data(as_text=True)
    base = app.config["BASE_URL"]
    assert base.startswith("http://127.0.0.1:5000")  # not the test client's localhost
    for size in embed.SIZES:
        snippet = embed.widget_snippet(size.width, base_url=base)
        assert str(escape(snippet)) in html, size  # to copy, shown as text
        assert f"{size.width} × {size.height} pixels" in html
    # the preview is the default size's snippet itself
    assert embed.widget_snippet(embed.DEFAULT_WIDTH, base_url=base) in html
    assert 'href="/staff/fund/embed"' in client.get("/staff/fund").get_data(as_text=True)


def test_only_staff_open_the_embed_page(client, login_as):
    assert client.get("/staff/fund/embed").status_code in (302, 401, 403)
    login_as("member")
    assert client.get("/staff/fund/embed").status_code in (302, 403, 404)


def test_widget_source_names_its_snippet(app, client, campaign_id):
    html = client.get("/fund/widget").get_data(as_text=True)
    assert (f"<!-- To put this on a page (other sizes at /staff/fund/embed): "
            f"{embed.widget_snippet(base_url=app.config['BASE_URL'])} -->") in html


def test_unknown_width_is_refused():
    import pytest

    with pytest.raises(KeyError):
        embed.size(123)


def _raise_to(app, campaign_id, pence, *, was=0, lines=0):
    from coop.extensions import db
    from coop.fund import services
    from coop.fund.models import Campaign
    from tests.fund.conftest import london_today

    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        services.set_total(db.session, campaign, pence, expected_pence=was, expected_count=lines,
                           received_on=london_today(), reason="from the bank")
        db.session.commit()


def test_the_badge_squeezes_a_long_line_inside_its_border(app, client, make_campaign):
    """QA: "Fighting fund: £123,456 of £150,000" measured 279 px in the 280 px badge."""
    campaign_id = make_campaign(target_pence=15_000_000)
    _raise_to(app, campaign_id, 657_200)
    svg = client.get("/fund/badge.svg").get_data(as_text=True)
    assert "Fighting fund: £6,572 of £150,000</text>" in svg and "textLength" not in svg
    _raise_to(app, campaign_id, 12_345_600, was=657_200, lines=1)
    svg = client.get("/fund/badge.svg").get_data(as_text=True)
    assert "Fighting fund: £123,456 of £150,000</text>" in svg
    assert 'textLength="260" lengthAdjust="spacingAndGlyphs"' in svg


def test_the_badge_snippet_links_to_the_fund_and_says_so():
    """An <img> of an SVG hides its <title> (the figures) from screen readers: the alt says
    where the link goes, and the snippet links it (QA)."""
    snippet = embed.badge_snippet(base_url="https://paper.example")
    assert snippet.startswith('<a href="https://paper.example/fund"><img ')
    assert 'alt="Fighting fund: see how much we have raised this month, and give"' in snippet


def test_the_widget_sends_search_engines_to_the_fund_page(app, client, campaign_id):
    html = client.get("/fund/widget").get_data(as_text=True)
    assert '<meta name="robots" content="noindex">' in html
    assert f'<link rel="canonical" href="{app.config["BASE_URL"]}/fund">' in html
