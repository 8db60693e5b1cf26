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


def _head(html: str) -> str:
    return html.split("</head>")[0]


def test_canonical_and_og_url_come_from_base_url_not_the_host(make_app):
    app = make_app(BASE_URL="https://paper.example")
    client = app.test_client()
    head = _head(client.get("/events?page=2&tag=x", headers={"Host": "evil.example"})
                 .get_data(as_text=True))
    assert '<link rel="canonical" href="https://paper.example/events?page=2">' in head
    assert '<meta property="og:url" content="https://paper.example/events?page=2">' in head
    assert ('<meta property="og:image" content="https://paper.example/static/social-card.png">'
            in head)
    assert "evil.example" not in head


def test_home_page_is_shared_under_the_site_name(client, app):
    head = _head(client.get("/").get_data(as_text=True))
    assert f'<meta property="og:title" content="{app.config["SITE_NAME"]}"'.replace(
        "'", "&#39;") in head
    assert '<link rel="canonical" href="http://127.0.0.1:5000/">' in head
    assert '<meta name="twitter:card" content="summary_large_image">' in head


def test_error_pages_describe_the_error_and_claim_no_address(client):
    head = _head(client.get("/no-such-page").get_data(as_text=True))
    assert '<meta name="description" content="There' in head
    assert "canonical" not in head and "og:" not in head


def test_an_event_is_described_by_its_summary_date_and_place(app, client):
    import datetime as dt

    from coop.db import now_utc
    from coop.events import services
    from coop.extensions import db

    starts = (now_utc() + dt.timedelta(days=30)).replace(hour=18, minute=0)
    with app.app_context():
        event = services.create_event(
            db.session, services.EventDetails(
                title="Printers & <readers>", summary="Talk about the \"press\" & its <future>.",
                venue="Marx Memorial Library", status="published"),
            starts, starts + dt.timedelta(hours=2), slug="printers")
        db.session.commit()
        day = app.jinja_env.filters["london_date"](event.starts_at)
    head = _head(client.get("/events/printers").get_data(as_text=True))
    description = (f"Talk about the &#34;press&#34; &amp; its &lt;future&gt;. {day}, "
                   "Marx Memorial Library.")
    assert f'<meta name="description" content="{description}">' in head
    assert f'<meta property="og:description" content="{description}">' in head
    assert '<meta property="og:title" content="Printers &amp; &lt;readers&gt;">' in head
