"""Concurrent delivery: Stripe (or a proxy) sending the same event, or two events for one
payment, at the same moment. Real threads released by a Barrier, on the suite's database
(SQLite, or PostgreSQL when DATABASE_URL is set)."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from coop.extensions import db as _db
from coop.fund import services as fund
from coop.fund.models import Campaign, Entry
from coop.payments.models import Payment, WebhookEvent
from tests.payments.conftest import (
    checkout_row,
    deliver,
    event,
    session_completed,
    start_checkout,
)

pytestmark = pytest.mark.slow

THREADS = 10


def _deliver_at_once(app, bodies: list[dict]) -> list[int]:
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def send(body):
        try:
            client = app.test_client()
            payload = json.dumps(body)
            barrier.wait(timeout=30)
            statuses.append(deliver(client, payload).status_code)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return statuses


def _totals(app, campaign_id):
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        result = (campaign.raised_pence, campaign.entry_count,
                  _db.session.scalar(sa.select(sa.func.count()).select_from(Entry)),
                  _db.session.scalar(sa.select(sa.func.count()).select_from(Payment)),
                  _db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)))
        assert fund.verify_totals(_db.session)[1] == []
        _db.session.remove()
        return result


def test_the_same_event_ten_times_at_once_makes_one_entry(app, client, campaign_id,
                                                          stripe_api):
    assert start_checkout(client, "2500").status_code == 303
    body = event("checkout.session.completed", session_completed(checkout_row(app)))
    statuses = _deliver_at_once(app, [body] * THREADS)
    assert statuses == [200] * THREADS
    assert _totals(app, campaign_id) == (2500, 1, 1, 1, 1)


def test_ten_events_for_one_payment_at_once_make_one_entry(app, client, campaign_id,
                                                           stripe_api):
    assert start_checkout(client, "2500").status_code == 303
    obj = session_completed(checkout_row(app))
    bodies = [event("checkout.session.completed" if i % 2 else
                    "checkout.session.async_payment_succeeded", obj) for i in range(THREADS)]
    statuses = _deliver_at_once(app, bodies)
    assert statuses == [200] * THREADS
    assert _totals(app, campaign_id) == (2500, 1, 1, 1, THREADS)


def test_two_partial_refunds_delivered_at_once_are_corrected_exactly(app, client, campaign_id,
                                                                    stripe_api):
    """£10 then £15 more refunded of a £25 gift; the events race: £25 corrected in all."""
    assert start_checkout(client, "2500").status_code == 303
    row = checkout_row(app)
    assert deliver(client, event("checkout.session.completed",
                                 session_completed(row, intent="pi_race"))).status_code == 200
    charge = {"id": "ch_race", "object": "charge", "payment_intent": "pi_race", "amount": 2500}
    bodies = [event("charge.refunded", {**charge, "amount_refunded": total})
              for total in (1000, 2500) * 3]  # six events, each with its own id
    assert _deliver_at_once(app, bodies) == [200] * 6
    raised, count, entries, payments, events = _totals(app, campaign_id)
    assert raised == 0 and events == 7
