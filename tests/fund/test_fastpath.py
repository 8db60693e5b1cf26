"""The WSGI response cache for the embeds: served without Flask, never stale, same headers."""

from __future__ import annotations

import pytest

from coop.extensions import db as _db
from coop.fund import services
from coop.fund.fastpath import MARKER
from coop.fund.models import Campaign
from tests.fund.conftest import london_today

URLS = ("/api/fund", "/api/fund/this-month", "/fund/widget", "/fund/badge.svg")


@pytest.fixture
def counted(make_app, campaign_id):
    """An app that counts the requests Flask itself handled."""
    app = make_app()
    app.extensions["coop.fund.cache"].clock = lambda: 1000.0  # no expiry on a slow machine
    calls: list[str] = []
    app.before_request(lambda: calls.append("flask"))
    return app, calls


def _add(app, campaign_id, pence):
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        services.add_entry(_db.session, campaign, pence, received_on=london_today(),
                           source="online")
        _db.session.commit()


@pytest.mark.parametrize("url", URLS)
def test_repeat_requests_skip_flask_until_the_figures_change(counted, campaign_id, url):
    app, calls = counted
    client = app.test_client()
    first = client.get(url)
    assert first.status_code == 200 and len(calls) == 1
    second = client.get(url)
    assert len(calls) == 1, "served from the kept response"
    assert second.data == first.data
    assert sorted(second.headers.items()) == sorted(first.headers.items())
    assert MARKER not in first.headers and MARKER not in second.headers
    not_modified = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert not_modified.status_code == 304 and len(calls) == 1
    assert not_modified.headers["ETag"] == first.headers["ETag"]
    assert "Content-Security-Policy" in not_modified.headers
    weak = client.get(url, headers={"If-None-Match": f'"other", W/{first.headers["ETag"]}'})
    assert weak.status_code == 304

    _add(app, campaign_id, 1234)  # this process wrote: the next request shows it
    third = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert third.status_code == 200 and len(calls) == 2
    assert third.headers["ETag"] != first.headers["ETag"]
    assert b"1234" in third.data or b"12.34" in third.data


def test_query_strings_head_and_other_methods_go_to_flask(counted, campaign_id):
    app, calls = counted
    client = app.test_client()
    client.get("/api/fund")
    client.get("/api/fund?x=1")
    client.get("/api/fund?x=1")
    client.head("/api/fund")
    assert client.post("/api/fund").status_code == 405
    assert len(calls) == 5


def test_widget_links_do_not_depend_on_the_host(counted, campaign_id):
    """Kept responses are shared by every Host, so the widget's own link is relative (an
    iframe resolves it against this site)."""
    app, _calls = counted
    client = app.test_client()
    a = client.get("/fund/widget", base_url="http://a.example").get_data(as_text=True)
    b = client.get("/fund/widget", base_url="http://b.example").get_data(as_text=True)
    assert 'href="/fund" target="_blank"' in a and a == b


def test_404s_are_not_kept(counted):
    app, calls = counted
    client = app.test_client()
    assert client.get("/api/fund/nope").status_code == 404
    assert client.get("/api/fund/nope").status_code == 404
    assert len(calls) == 2


def test_can_be_switched_off(make_app, campaign_id):
    app = make_app(FUND_FAST_PATH=False)
    calls: list[str] = []
    app.before_request(lambda: calls.append("flask"))
    client = app.test_client()
    client.get("/api/fund")
    client.get("/api/fund")
    assert len(calls) == 2
