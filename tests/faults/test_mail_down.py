"""Mail server down: enquiries, event registrations and newsletter sign-ups are still saved, the
reader is not shown an error, and staff see the failed email flagged."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from coop.extensions import db as _db
from tests.faults.test_database_down import SHARE_ENQUIRY
from tests.quality.pages import DEMO

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def _closed_port() -> int:
    """A port nothing listens on: connecting is refused at once, like a mail server down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def mailless(make_app):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=_closed_port(), MAIL_TIMEOUT=3,
                   DEMO_ACCOUNTS=True, RATELIMIT_ENABLED=False, TESTING=False,
                   PROPAGATE_EXCEPTIONS=False)
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    staff = app.test_client()
    email, password = DEMO["staff"]
    assert staff.post("/login", data={"email": email, "password": password}).status_code == 302
    return app, app.test_client(), staff


def _scalar(app, sql: str, **params):
    with app.app_context():
        value = _db.session.execute(sa.text(sql), params).scalar()
        _db.session.remove()
        return value


def test_share_enquiry_saved_and_flagged_when_mail_is_down(mailless):
    app, reader, staff = mailless
    response = reader.post("/shares", data=dict(SHARE_ENQUIRY, email="mailless@example.org"))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    thanks = reader.get(response.headers["Location"])
    assert thanks.status_code == 200
    row = _scalar(app, "SELECT id FROM share_enquiries WHERE email = :e AND email_failed",
                  e="mailless@example.org")
    assert row is not None, "the enquiry was not saved with email_failed set"
    inbox = staff.get("/staff/enquiries").get_data(as_text=True)
    assert "Email failed" in inbox
    detail = staff.get(f"/staff/enquiries/{row}").get_data(as_text=True)
    assert "Failed" in detail


def test_event_registration_saved_and_flagged_when_mail_is_down(mailless):
    app, reader, staff = mailless
    from coop.db import now_utc
    from coop.events.models import Event

    with app.app_context():
        events = _db.session.scalars(sa.select(Event).order_by(Event.starts_at)).all()
        found = next(((e.slug, e.id) for e in events
                      if e.status == "published" and e.starts_at > now_utc()), None)
        _db.session.remove()
    assert found, "the demo data has no upcoming event to register for"
    slug, event_id = found
    response = reader.post(f"/events/{slug}/register",
                           data={"name": "Mae Mailless", "email": "mae@example.org"})
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    failed = _scalar(app, "SELECT mail_failed_at FROM event_registrations WHERE email = :e",
                     e="mae@example.org")
    assert failed is not None, "the registration was not flagged for staff"
    attendees = staff.get(f"/staff/events/{event_id}").get_data(as_text=True)
    assert "email failed" in attendees


def test_newsletter_signup_saved_and_flagged_when_mail_is_down(mailless):
    app, reader, staff = mailless
    if "newsletter.signup" not in app.view_functions:
        pytest.fail("the newsletter sign-up page is missing")
    from coop.newsletter.services import topic_choices

    with app.test_request_context():
        topics = [choice[0] if isinstance(choice, tuple) else getattr(choice, "value", choice)
                  for choice in topic_choices()]
    response = reader.post("/newsletter", data={"email": "nel@example.org", "name": "Nel",
                                                "topics": topics[:1], "consent": "y"})
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:800]
    failed = _scalar(app, "SELECT mail_failed_at FROM newsletter_subscribers WHERE email = :e",
                     e="nel@example.org")
    assert failed is not None
