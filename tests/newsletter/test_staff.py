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


def _subscriber_id(app, email: str) -> int | None:
    import sqlalchemy as sa

    from coop.extensions import db
    from coop.newsletter.models import Subscriber

    with app.app_context():
        return db.session.scalar(sa.select(Subscriber.id).where(Subscriber.email == email))


def test_staff_unsubscribe_someone_who_asked(app, client, login_as, subscribers):
    staff = login_as("staff")
    sub_id = _subscriber_id(app, "a@example.org")
    page = client.get(f"/staff/newsletter/subscribers/{sub_id}").get_data(as_text=True)
    assert "Unsubscribe them" in page and "Erase this subscriber" in page
    response = client.post(f"/staff/newsletter/subscribers/{sub_id}/unsubscribe",
                           follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "a@example.org is unsubscribed" in html and "Unsubscribe them" not in html
    assert re.search(r"Unsubscribed</td>\s*<td>staff</td>", html)  # the consent record says who
    with app.app_context():
        import sqlalchemy as sa

        from coop.audit import AuditEvent
        from coop.extensions import db

        entry = db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.action == "newsletter.unsubscribed_by_staff"))
        assert entry.actor_id == staff.id and entry.subject_id == str(sub_id)


def test_staff_erase_someone_who_asked_to_be_forgotten(app, client, login_as, subscribers):
    login_as("staff")
    sub_id = _subscriber_id(app, "a@example.org")
    url = f"/staff/newsletter/subscribers/{sub_id}/erase"
    refused = client.post(url, follow_redirects=True)
    assert "needs the box beside the button ticked" in refused.get_data(as_text=True)
    assert _subscriber_id(app, "a@example.org") == sub_id
    done = client.post(url, data={"confirm": "y"}, follow_redirects=True)
    assert "The subscriber is erased" in done.get_data(as_text=True)
    assert _subscriber_id(app, "a@example.org") is None
    with app.app_context():
        import sqlalchemy as sa

        from coop.audit import AuditEvent
        from coop.extensions import db

        entry = db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.action == "newsletter.subscriber_erased"))
        assert "a@example.org" not in str(entry.details)
    assert client.get(f"/staff/newsletter/subscribers/{sub_id}").status_code == 404
