"""The favicon, and the <head> metadata every page carries (description, canonical, Open Graph)."""

from __future__ import annotations

from coop import ROOT
from coop.main.views import FAVICON_MAX_AGE


def test_favicon_ico_is_the_svg_mark_kept_a_week(client):
    response = client.get("/favicon.ico")
    body = response.get_data()
    response.close()
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert body == (ROOT / "coop" / "static" / "favicon.svg").read_bytes()
    assert response.cache_control.public
    assert response.cache_control.max_age == FAVICON_MAX_AGE >= 7 * 24 * 3600
    assert "Set-Cookie" not in response.headers
    assert body.startswith(b"<svg")
    again = client.get("/favicon.ico", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_every_page_names_the_icon(client):
    for path in ("/", "/no-such-page"):
        html = client.get(path).get_data(as_text=True)
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    static = client.get("/static/favicon.svg")
    static.close()
    assert static.status_code == 200
