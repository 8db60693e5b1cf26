"""The purge-enquiries command and the demo seed."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from coop.extensions import db as _db
from coop.shares import services
from coop.shares.models import Enquiry

UTC = dt.UTC


def _close(app, enquiry_id: int, status: str, when: dt.datetime) -> None:
    with app.app_context():
        enquiry = _db.session.get(Enquiry, enquiry_id)
        if status == "withdrawn":
            services.change_status(_db.session, enquiry, "contacted", by=None, now=when)
        services.change_status(_db.session, enquiry, status, by=None, now=when)
        _db.session.commit()


def test_purge_enquiries_erases_closed_ones_older_than_n_days(app, runner, make_enquiry):
    now = dt.datetime.now(UTC)
    old_done = make_enquiry(email="a@example.org", now=now - dt.timedelta(days=100))
    old_declined = make_enquiry(email="b@example.org", now=now - dt.timedelta(days=100))
    old_open = make_enquiry(email="c@example.org", now=now - dt.timedelta(days=100))
    recent_done = make_enquiry(email="d@example.org", now=now - dt.timedelta(days=100))
    _close(app, old_done.id, "withdrawn", now - dt.timedelta(days=91))
    _close(app, old_declined.id, "declined", now - dt.timedelta(days=95))
    _close(app, recent_done.id, "declined", now - dt.timedelta(days=5))

    result = runner.invoke(args=["purge-enquiries", "--older-than-days", "90"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Erased 2 closed enquiries older than 90 days."
    with app.app_context():
        erased = {e.id: e.is_erased for e in _db.session.scalars(sa.select(Enquiry))}
    assert erased == {old_done.id: True, old_declined.id: True, old_open.id: False,
                      recent_done.id: False}

    result = runner.invoke(args=["purge-enquiries", "--older-than-days", "90"])
    assert result.output.strip() == "Erased 0 closed enquiries older than 90 days."
    result = runner.invoke(args=["purge-enquiries", "--older-than-days", "1"])
    assert result.output.strip() == "Erased 1 closed enquiry older than 1 days."


def test_purge_enquiries_needs_a_sensible_number(runner):
    assert runner.invoke(args=["purge-enquiries"]).exit_code != 0
    assert runner.invoke(args=["purge-enquiries", "--older-than-days", "-1"]).exit_code != 0
    assert runner.invoke(args=["purge-enquiries", "--older-than-days", "soon"]).exit_code != 0


def test_seed_adds_enquiries_in_several_states_once(make_app):
    app = make_app(DEMO_ACCOUNTS=True)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed", "--today", "2026-03-01"])
    assert result.exit_code == 0, result.output
    assert "Share enquiries: 7 added." in result.output
    with app.app_context():
        rows = _db.session.scalars(sa.select(Enquiry)).all()
        assert {e.status for e in rows} == {"new", "contacted", "payment_received", "completed",
                                            "declined"}
        paid = [e for e in rows if e.status == "payment_received"]
        assert [(e.paid_pence, e.paid_method) for e in paid] == [(100_000, "bank_transfer")]
        assert {e.kind for e in rows} == {"shares", "supporter"}
        assert any(e.email_failed for e in rows)
        newest = max(rows, key=lambda e: e.created_at)
        assert newest.created_at.date() == dt.date(2026, 2, 28)
        linked = [e for e in rows if e.user_id is not None]
        assert [e.user.email for e in linked] == ["member@example.org"]
    result = runner.invoke(args=["seed", "--today", "2026-03-01"])
    assert "Share enquiries: 0 added." in result.output
    with app.app_context():
        assert _db.session.scalar(sa.select(sa.func.count(Enquiry.id))) == 7
