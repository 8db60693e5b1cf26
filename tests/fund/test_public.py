"""Public pages, the widget, the badge and the JSON: figures, caching headers, framing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from coop.extensions import db as _db
from coop.fund import services
from coop.fund.models import Campaign
from tests.conftest import login
from tests.fund.conftest import london_today

JSON_FIELDS = {"slug", "name", "currency", "raised_pence", "target_pence", "remaining_pence",
               "percent", "days_remaining", "opens_on", "deadline", "status", "target_met",
               "updated_at"}
CACHEABLE = ("/api/fund", "/fund/widget", "/fund/badge.svg")


@pytest.fixture
def add(app):
    """``add(campaign_id, pence, **kwargs)``: an entry through the service, committed."""

    def do_add(campaign_id, pence, **kwargs):
        kwargs.setdefault("received_on", london_today())
        kwargs.setdefault("source", "post")
        with app.app_context():
            campaign = _db.session.get(Campaign, campaign_id)
            entry = services.add_entry(_db.session, campaign, pence, **kwargs)
            _db.session.commit()
            return entry.id

    return do_add


@pytest.fixture
def paper(campaign_id, add):
    """The paper's figures: £6,572 of £18,000 with 17 days to go."""
    add(campaign_id, 600_000, donor_name="J. Smith", donor_town="Leeds", may_thank=True)
    add(campaign_id, 41_200, donor_name="Secret Sam", donor_town="Hull", may_thank=False)
    add(campaign_id, 16_000, received_on=london_today() - dt.timedelta(days=9))
    return campaign_id


def test_fund_page_shows_the_papers_figures(client, paper):
    html = client.get("/fund").get_data(as_text=True)
    assert "You’ve raised <strong class=\"fund-raised\">£6,572</strong>" in html
    assert "We need <strong class=\"fund-remaining\">£11,428</strong>" in html
    assert "17 days remaining" in html
    assert 'role="progressbar"' in html and 'aria-valuenow="36.5"' in html
    assert "<strong>36.5%</strong> of the £18,000 target" in html
    assert '<a class="button" href="https://example.org/give">Donate today</a>' in html
    assert "Thanks to J. Smith of Leeds" in html
    assert "Secret Sam" not in html  # named, but didn't agree to be thanked
    assert "Raised today: <strong>£6,412</strong>" in html
    assert "steady pace would have us by today" in html  # the expected-by-today marker
    assert "<svg viewBox=\"0 0 640 260\" role=\"img\"" in html  # the chart, drawn on the server
    assert "<caption>Raised each day of" in html  # … and its table
    assert "<script" not in html and "style=" not in html


def test_fund_page_draws_a_phone_chart_with_fewer_larger_labels(client, paper):
    """SVG text scales with its drawing: the phone's drawing is half as wide, so its labels are
    set larger, and it has three money labels ("£18k") and two dates instead of five and three."""
    html = client.get("/fund").get_data(as_text=True)
    wide = html.split('class="fund-chart-wide"', 1)[1].split("</svg>", 1)[0]
    small = html.split('class="fund-chart-narrow"', 1)[1].split("</svg>", 1)[0]
    assert '<svg viewBox="0 0 320 214" role="img" class="fund-chart-narrow"' in html
    assert wide.count("<text ") == 5 + 3 and small.count("<text ") == 3 + 2
    assert 'font-size="12"' in wide and 'font-size="15"' in small
    assert ">£18k</text>" in small and ">£9k</text>" in small and ">£18,000</text>" in wide
    # each drawing names itself for screen readers (only one is ever displayed)
    assert 'aria-labelledby="chart-title-small chart-desc-small"' in small


@pytest.mark.parametrize(("pence", "label"), [(0, "£0"), (75_000, "£750"), (900_000, "£9k"),
                                              (450_000, "£4.5k"), (1_350_000, "£13.5k")])
def test_short_money_labels(pence, label):
    from coop.fund.chart import short_money

    assert short_money(pence) == label


def test_home_page_panel(client, paper):
    html = client.get("/").get_data(as_text=True)
    assert 'id="fund-panel-heading"' in html and "£11,428" in html and "36.5%" in html
    # one stylesheet for every page, the bar's styles included
    assert html.count('rel="stylesheet"') == 1 and html.index("style.css") < html.index(
        "</head>")


def test_no_campaign(client):
    assert "no fighting fund appeal open" in client.get("/fund").get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert "fund-panel" not in home
    for url in ("/api/fund", "/fund/widget", "/fund/badge.svg"):
        assert client.get(url).status_code == 404
    response = client.get("/api/fund")
    assert response.is_json and "no fighting fund" in response.get_json()["message"]


def test_upcoming_and_past_campaigns(client, make_campaign):
    today = london_today()
    make_campaign("old", opens_on=today - dt.timedelta(days=60),
                  deadline=today - dt.timedelta(days=31))
    assert client.get("/api/fund").status_code == 404  # only a past one: nothing current
    make_campaign("soon", opens_on=today + dt.timedelta(days=3),
                  deadline=today + dt.timedelta(days=33))
    data = client.get("/api/fund").get_json()
    assert (data["slug"], data["status"]) == ("soon", "upcoming")
    assert "Opens on" in client.get("/fund").get_data(as_text=True)


def test_archive_lists_past_campaigns_with_met_or_not(client, make_campaign, add):
    today = london_today()
    met = make_campaign("met", name="August fund", target_pence=10_000,
                        opens_on=today - dt.timedelta(days=90),
                        deadline=today - dt.timedelta(days=61))
    missed = make_campaign("missed", name="September fund", target_pence=10_000,
                           opens_on=today - dt.timedelta(days=60),
                           deadline=today - dt.timedelta(days=31))
    make_campaign("now", name="Current appeal")
    add(met, 12_500, received_on=today - dt.timedelta(days=70))
    add(missed, 4_000, received_on=today - dt.timedelta(days=40))
    html = client.get("/fund/archive").get_data(as_text=True)
    assert "August fund" in html and "Target met: £25 over" in html
    assert "September fund" in html and "Target not met: £60 short" in html
    assert "Current appeal" not in html
    assert html.index("September fund") < html.index("August fund")  # newest first
    page = client.get("/fund/met").get_data(as_text=True)
    assert "Fund closed: raised £125 of £100" in page
    assert "Donate today" not in page


def test_campaign_page_404(client):
    response = client.get("/fund/no-such-campaign")
    assert response.status_code == 404 and not response.is_json


def test_json_fields_exactly(client, paper):
    response = client.get("/api/fund")
    data = response.get_json()
    assert set(data) == JSON_FIELDS
    assert data["raised_pence"] == 657_200 and data["remaining_pence"] == 1_142_800
    assert data["percent"] == 36.5 and data["days_remaining"] == 17
    assert data["currency"] == "GBP" and data["status"] == "open" and data["target_met"] is False
    assert data["updated_at"].endswith("Z")
    assert dt.date.fromisoformat(data["deadline"]) == london_today() + dt.timedelta(days=17)
    assert client.get("/api/fund/this-month").get_json() == data


def test_json_404_for_unknown_slug(client):
    response = client.get("/api/fund/nope")
    assert response.status_code == 404
    assert response.is_json and response.get_json()["error"] == "Page not found"


@pytest.mark.parametrize("url", CACHEABLE)
def test_etag_304_cache_control_and_no_cookie(app, client, paper, make_user, url):
    first = client.get(url)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=2, s-maxage=2"
    assert "Set-Cookie" not in first.headers
    assert "Cookie" not in first.headers.get("Vary", "")
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    weak = client.get(url + "?from=proxy", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304  # through Flask (a query string), weak tags match too
    # Logged in, the session cookie is sent, but still not read, renewed or varied on.
    user = make_user("staff")
    logged_in = app.test_client()
    assert login(logged_in, user.email).status_code == 302
    response = logged_in.get(url)
    assert response.status_code == 200 and response.headers["ETag"] == etag
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "no-store" not in response.headers["Cache-Control"]


@pytest.mark.parametrize("url", CACHEABLE)
def test_etag_and_figures_change_at_once_with_a_new_entry(client, paper, add, url):
    before = client.get(url)
    add(paper, 100)
    after = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert "£6,573" in after.get_data(as_text=True) or b"657300" in after.data


def test_widget_may_be_framed_everything_else_may_not(make_app, paper):
    client = make_app().test_client()
    widget = client.get("/fund/widget")
    assert "frame-ancestors *" in widget.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in widget.headers
    for url in ("/fund", "/api/fund", "/fund/badge.svg", "/"):
        response = client.get(url)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], url
        assert response.headers["X-Frame-Options"] == "DENY"
    narrowed = make_app(FUND_WIDGET_ORIGINS="https://a.example https://b.example").test_client()
    assert ("frame-ancestors https://a.example https://b.example"
            in narrowed.get("/fund/widget").headers["Content-Security-Policy"])


def test_widget_and_badge_content(client, paper):
    widget = client.get("/fund/widget").get_data(as_text=True)
    assert widget.startswith("<!doctype html>")
    assert "£6,572" in widget and "£11,428" in widget and "17 days remaining" in widget
    assert 'target="_blank" rel="noopener">Donate today</a>' in widget
    assert "<script" not in widget and "style=" not in widget
    badge = client.get("/fund/badge.svg")
    assert badge.mimetype == "image/svg+xml"
    text = badge.get_data(as_text=True)
    assert "<title id=\"fund-badge-title\">Campaign this-month: £6,572 raised of £18,000 " \
           "(36.5%). 17 days remaining.</title>" in text
    assert 'width="73.0"' in text  # 36.5% of the 200-wide bar


def test_names_are_escaped_everywhere(client, make_campaign, add):
    cid = make_campaign("x", name="<b>Bold</b> & co")
    add(cid, 100, donor_name="<script>alert(1)</script>", donor_town="Hull", may_thank=True)
    for url in ("/fund", "/fund/widget", "/fund/badge.svg"):
        body = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in body and "<b>Bold" not in body, url
    assert client.get("/api/fund").get_json()["name"] == "<b>Bold</b> & co"


class QueryCounter:
    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args):
        if "fund_" in statement:  # other features' panels and banners are theirs to count
            self.count += 1


def test_public_figures_do_not_query_per_request(app, client, paper):
    app.extensions["coop.cache"].clock = lambda: 1000.0  # no expiry during the test
    urls = ("/api/fund", "/api/fund/this-month", "/fund/widget", "/fund/badge.svg", "/fund")
    for url in urls:
        client.get(url)  # warm the cache
    with app.app_context():
        engine = _db.engine
    with QueryCounter(engine) as counter:
        for _ in range(5):
            for url in urls:
                assert client.get(url).status_code == 200
    assert counter.count == 0
    # The home page's fund panel reads the same cache (other panels may query).
    panel_only = app.extensions["coop.hooks"]["home_sections"]
    with app.test_request_context("/"), QueryCounter(engine) as counter:
        from coop.fund.views import home_panel

        assert home_panel(_db.session)["fund"].raised_pence == 657_200
    assert counter.count == 0 and home_panel in panel_only


def test_figures_are_at_most_the_bound_old_for_writes_elsewhere(app, client, paper):
    """A write this process didn't see (another server process: here a raw DBAPI connection,
    which SQLAlchemy's events don't see) shows within CACHE_SECONDS (2)."""
    clock = [1000.0]
    app.extensions["coop.cache"].clock = lambda: clock[0]
    assert client.get("/api/fund").get_json()["raised_pence"] == 657_200
    with app.app_context():
        raw = _db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("UPDATE fund_campaigns SET raised_pence = raised_pence + 5, "
                           "entry_count = entry_count + 1")
            raw.commit()
        finally:
            raw.close()
    clock[0] += 1.9
    assert client.get("/api/fund").get_json()["raised_pence"] == 657_200
    clock[0] += 0.2
    assert client.get("/api/fund").get_json()["raised_pence"] == 657_205


def test_any_session_commit_invalidates(app, client, paper):
    """The payment API or the CLI write through their own sessions; nobody calls the cache."""
    assert client.get("/api/fund").get_json()["raised_pence"] == 657_200
    with app.app_context():
        campaign = _db.session.get(Campaign, paper)
        campaign.name = "Renamed"
        _db.session.commit()
    assert client.get("/api/fund").get_json()["name"] == "Renamed"
    with app.app_context():
        _db.session.execute(sa.update(Campaign).values(target_pence=2_000_000))
        _db.session.commit()
    assert client.get("/api/fund").get_json()["target_pence"] == 2_000_000


def test_rolled_back_changes_do_not_invalidate(app, client, paper, monkeypatch):
    from coop.cache import current_version

    client.get("/api/fund")
    version = current_version()
    with app.app_context():
        campaign = _db.session.get(Campaign, paper)
        services.add_entry(_db.session, campaign, 100, received_on=london_today(),
                           source="post")
        _db.session.rollback()
        _db.session.commit()
    assert current_version() == version
    assert json.loads(client.get("/api/fund").data)["raised_pence"] == 657_200
