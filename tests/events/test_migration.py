"""Migration 0019 on events written before it: each gets its length, rounded up."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from coop.extensions import db as _db
from tests.conftest import ENGINE

START = dt.datetime(2026, 3, 28, 19, tzinfo=dt.UTC)
#: slug → (start, end): two hours; across the clocks going forward (counted in UTC);
#: half a second past a whole day (rounded up); the most the dates allowed can span
EVENTS = {
    "talk": (START, START + dt.timedelta(hours=2)),
    "weekend": (START, START + dt.timedelta(days=2)),
    "fraction": (START, START + dt.timedelta(days=1, microseconds=500_000)),
    "century": (dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 12, 31, tzinfo=dt.UTC)),
}


def _insert(conn, slug, starts, ends):
    if ENGINE == "sqlite":
        starts, ends = starts.replace(tzinfo=None), ends.replace(tzinfo=None)
    conn.execute(sa.text(
        "INSERT INTO events (slug, title, summary, description, starts_at, ends_at, online, "
        "joining_url, joining_url_public, venue, address, details_url, presenters, partner, "
        "visibility, status, sequence, created_at, updated_at) VALUES (:slug, 'An event', '', "
        "'', :starts, :ends, false, '', false, '', '', '', '', '', 'public', 'published', 0, "
        ":starts, :starts)"), {"slug": slug, "starts": starts, "ends": ends})


def test_events_held_before_0019_get_their_lengths(app):
    with app.app_context():
        downgrade(revision="0018")
        with _db.engine.begin() as conn:
            for slug, (starts, ends) in EVENTS.items():
                _insert(conn, slug, starts, ends)
        upgrade(revision="head")
        with _db.engine.connect() as conn:
            lengths = dict(conn.execute(sa.text("SELECT slug, duration_seconds FROM events")).all())
        assert lengths == {"talk": 7200, "weekend": 172_800, "fraction": 86_401,
                           "century": 3_187_209_600}
        # and the column refuses nothing it shouldn't: the longest is past 32 bits
        assert lengths["century"] > 2**31
