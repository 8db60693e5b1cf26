"""The demo notice: current on the day it's loaded, and loading twice adds nothing."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from coop.cli import load_seed_file
from coop.notices import seed, services
from coop.notices.models import Notice


def test_seed_is_current_and_idempotent(db):
    data = load_seed_file("notices")
    today = dt.date.today()
    seed.load(db.session, data, today)
    seed.load(db.session, data, today)
    db.session.commit()
    notices = db.session.scalars(sa.select(Notice)).all()
    assert len(notices) == 1
    assert notices[0].text.startswith("Due to continuing global pandemic conditions")
    assert [n.id for n in services.current(db.session)] == [notices[0].id]
