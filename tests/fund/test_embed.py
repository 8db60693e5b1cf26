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
