"""Staff newsletter pages: counts by topic and status, subscriber consent record, CSV by topic."""

from __future__ import annotations

import csv
import io
import re

import pytest

CONFIRM = re.compile(r"/newsletter/confirm/([A-Za-z0-9_\-]+)")


@pytest.fixture
def subscribers(app, outbox):
    """Two confirmed (one with a formula-looking name) and one pending."""
    from coop.extensions import db
    from coop.newsletter import services

    with app.app_context():
        for email, name, topics in (("b@example.org", "=HYPERLINK(\"http://x\")", ["events"]),
                                    ("a@example.org", "Ann", ["events", "offers"])):
            services.request_subscription(db.session, email, name=name, topics=topics,
                                          source="newsletter-page")
            db.session.commit()
            token = CONFIRM.search(outbox()[-1].get_content()).group(1)
            services.confirm(db.session, token)
            db.session.commit()
        services.request_subscription(db.session, "p@example.org", topics=["events"])
        db.session.commit()


def test_counts_by_status_and_topic(client, login_as, subscribers):
    login_as("staff")
    html = client.get("/staff/newsletter").get_data(as_text=True)
    assert re.search(r"Subscribed</th><td class=\"num\">2<", html)
    assert re.search(r"Waiting for confirmation</th><td class=\"num\">1<", html)
    assert re.search(r"Events</th><td class=\"num\">2</td><td class=\"num\">1<", html)
    assert re.search(r"Special offers</th><td class=\"num\">1</td><td class=\"num\">0<", html)


def test_csv_of_confirmed_subscribers_for_a_topic(client, login_as, subscribers):
    login_as("staff")
    response = client.get("/staff/newsletter/export?topic=events")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["email", "name", "confirmed_at_utc", "topics"]
    assert [r[0] for r in rows[1:]] == ["a@example.org", "b@example.org"]  # no pending one
    assert rows[2][1] == "'=HYPERLINK(\"http://x\")"  # neutralised
    offers = client.get("/staff/newsletter/export?topic=offers").get_data(as_text=True)
    assert "a@example.org" in offers and "b@example.org" not in offers


def test_export_page_and_unknown_topic(client, login_as):
    login_as("staff")
    page = client.get("/staff/newsletter/export")
    assert page.status_code == 200 and "<h1>Download a topic list</h1>" in page.get_data(
        as_text=True)
    assert client.get("/staff/newsletter/export?topic=nope").status_code == 404


def test_subscriber_detail_shows_consent_record(app, client, login_as, subscribers):
    from coop.extensions import db
    from coop.newsletter import services

    with app.app_context():
        sub_id = services.get_by_email(db.session, "a@example.org").id
    login_as("staff")
    search = client.get("/staff/newsletter?q=a@exa").get_data(as_text=True)
    search = search.split("<main", 1)[1].split("</main>", 1)[0]  # not the footer's address
    assert "a@example.org" in search and "p@example.org" not in search
    html = client.get(f"/staff/newsletter/subscribers/{sub_id}").get_data(as_text=True)
    assert "Requested" in html and "Confirmed" in html
    assert "newsletter-page" in html and "Yes, email me" in html
    assert client.get("/staff/newsletter/subscribers/9999").status_code == 404


def test_search_handles_odd_input(client, login_as):
    login_as("staff")
    for query in ("%", "_", "\\", "x" * 500, "'; DROP TABLE users; --"):
        assert client.get("/staff/newsletter", query_string={"q": query}).status_code == 200
    assert client.get("/staff/newsletter?status=bogus").status_code == 200


def test_members_cannot_see_subscribers(client, login_as):
    login_as("member")
    assert client.get("/staff/newsletter").status_code == 403
    assert client.get("/staff/newsletter/export?topic=events").status_code == 403
