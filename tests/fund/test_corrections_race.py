"""A refund from Stripe and a staff reversal of the same gift at the same moment (review):
both name the gift, and one correction of a line is written at a time, so the second sees the
first and is refused rather than reversing the gift twice."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from coop.extensions import db as _db
from coop.fund import services
from coop.fund.models import Campaign, Entry
from tests.conftest import ENGINE
from tests.events.test_concurrency import _wait_for_a_lock_wait
from tests.fund.conftest import london_today

pytestmark = pytest.mark.slow


def test_a_refund_and_a_staff_reversal_at_once_take_the_gift_back_once(app, campaign_id):
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        gift = services.add_entry(_db.session, campaign, 5000, received_on=london_today(),
                                  source="online")
        _db.session.commit()
        gift_id, engine = gift.id, _db.engine
    refund_written, staff_started = threading.Event(), threading.Event()
    outcome: list[str] = []
    errors: list[BaseException] = []

    def staff() -> None:
        try:
            with app.app_context():
                campaign = _db.session.get(Campaign, campaign_id)
                entry = _db.session.get(Entry, gift_id)
                refund_written.wait(timeout=10)
                staff_started.set()
                services.add_correction(_db.session, campaign, -5000, reason="Bounced",
                                        received_on=london_today(), corrects=entry,
                                        seen="none")  # the form was drawn before the refund
                _db.session.commit()
                outcome.append("reversed")
        except services.CorrectedMeanwhile:
            outcome.append("told")
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    thread = threading.Thread(target=staff)
    thread.start()
    with app.app_context():  # the webhook's transaction: the refund written, not committed
        campaign = _db.session.get(Campaign, campaign_id)
        services.add_entry(_db.session, campaign, -5000, received_on=london_today(),
                           source="online", reason="Refunded", corrects_id=gift_id)
        refund_written.set()
        staff_started.wait(timeout=10)
        if ENGINE == "postgresql":  # the staff reversal waits for the refund's lock
            _wait_for_a_lock_wait(engine)
        _db.session.commit()
    thread.join(timeout=60)
    assert not errors, errors
    assert outcome == ["told"]
    with app.app_context():
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(Entry).where(
            Entry.corrects_id == gift_id)) == 1
