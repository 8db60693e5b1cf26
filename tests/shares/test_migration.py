"""Migration 0016 on rows written under the old workflow (new → contacted → completed)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from coop.extensions import db as _db
from tests.conftest import ENGINE


def _insert(conn, id_, kind, status, closed=None):
    now = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
    if ENGINE == "sqlite":
        now = now.replace(tzinfo=None)
        closed = closed.replace(tzinfo=None) if closed else None
    conn.execute(sa.text(
        "INSERT INTO share_enquiries (id, reference, kind, status, amount_pence, frequency, "
        "payment_method, existing_holder, member_number, name, email, phone, address, "
        "postcode, country, contact_consent_at, newsletter_opt_in, created_at, updated_at, "
        "closed_at, email_failed) VALUES (:id, :ref, :kind, :status, 1000, :freq, :pay, "
        "false, '', 'Old Reader', 'old@example.org', '', '1 Old St', 'EC1A 1BB', 'GB', "
        ":now, false, :now, :now, :closed, false)"),
        {"id": id_, "ref": f"XX-2025-{id_:06d}", "kind": kind, "status": status,
         "freq": "monthly" if kind == "supporter" else None,
         "pay": "cheque" if kind == "shares" else None, "now": now, "closed": closed})


def test_completed_share_enquiries_become_admitted_with_a_history_line(app):
    closed = dt.datetime(2025, 3, 5, 9, tzinfo=dt.UTC)
    with app.app_context():
        downgrade(revision="0011")
        with _db.engine.begin() as conn:
            _insert(conn, 1, "shares", "completed", closed)
            _insert(conn, 2, "supporter", "completed", closed)
            _insert(conn, 3, "shares", "contacted")
            _insert(conn, 4, "shares", "declined", closed)
        upgrade(revision="head")
        with _db.engine.connect() as conn:
            rows = dict(conn.execute(sa.text(
                "SELECT id, status FROM share_enquiries ORDER BY id")).all())
            changes = conn.execute(sa.text(
                "SELECT enquiry_id, old_status, new_status, by_id, detail "
                "FROM share_enquiry_changes")).all()
        assert rows == {1: "admitted", 2: "completed", 3: "contacted", 4: "declined"}
        [(enquiry_id, old, new, by_id, detail)] = changes
        assert (enquiry_id, old, new, by_id) == (1, "completed", "admitted", None)
        assert "no membership number" in detail

        from coop.shares.models import Enquiry

        migrated = _db.session.get(Enquiry, 1)
        assert migrated.is_closed and migrated.can_reopen  # staff may admit it properly
        _db.session.remove()

        # And back: the four old statuses, the history line gone.
        downgrade(revision="0011")
        with _db.engine.connect() as conn:
            rows = dict(conn.execute(sa.text(
                "SELECT id, status FROM share_enquiries ORDER BY id")).all())
            assert conn.execute(sa.text("SELECT count(*) FROM share_enquiry_changes")
                                ).scalar() == 0
        assert rows == {1: "completed", 2: "completed", 3: "contacted", 4: "declined"}
        upgrade(revision="head")
