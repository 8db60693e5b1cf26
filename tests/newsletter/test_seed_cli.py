"""Demo subscribers (idempotent, no email) and the purge command."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from coop.cli import load_seed_file
from coop.db import now_utc
from coop.newsletter import seed, services
from coop.newsletter.models import Subscriber


def test_seed_adds_subscribers_once_and_sends_nothing(db, outbox):
    data = load_seed_file("newsletter")
    seed.load(db.session, data, dt.date.today())
    db.session.commit()
    seed.load(db.session, data, dt.date.today())
    db.session.commit()
    subs = db.session.scalars(sa.select(Subscriber)).all()
    assert len(subs) == len(data["subscribers"])
    assert {s.status for s in subs} == {"pending", "confirmed", "unsubscribed"}
    assert all(s.consents for s in subs)
    assert outbox() == []


def test_purge_command(app, runner, outbox):
    from coop.extensions import db

    with app.app_context():
        old = now_utc() - dt.timedelta(days=40)
        sub = services.request_subscription(db.session, "old@example.org", now=old)
        sub.created_at = old
        services.request_subscription(db.session, "new@example.org")
        db.session.commit()
    result = runner.invoke(args=["newsletter-purge-pending", "--older-than-days", "30"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 unconfirmed sign-up older than 30 days." in result.output
    with app.app_context():
        assert db.session.scalars(sa.select(Subscriber.email)).all() == ["new@example.org"]
