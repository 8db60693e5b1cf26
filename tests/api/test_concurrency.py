"""Requests racing each other: one entry per key, and every amount counted once."""

from __future__ import annotations

import threading

import pytest

from tests.api.conftest import gift, ledger, raised

pytestmark = pytest.mark.slow

THREADS = 8


def _race(app, requests: list[tuple[dict, dict]]) -> list:
    """Send each (body, headers) from its own thread, all released at once."""
    barrier = threading.Barrier(len(requests))
    responses: list = [None] * len(requests)
    errors: list = []

    def worker(i: int, body: dict, headers: dict) -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=30)
            response = client.post("/api/fund/entries", json=body, headers=headers)
            responses[i] = (response.status_code, response.get_json(),
                            response.headers.get("Idempotent-Replayed"))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i, body, headers))
               for i, (body, headers) in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return responses


def _warm(app, token):
    """One earlier request, so the racing ones don't also race to mark the token used."""
    response = app.test_client().post(
        "/api/fund/entries", json=gift(amount_pence=1),
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "warm-up"})
    assert response.status_code == 201


def test_identical_requests_at_once_record_one_entry(app, token, campaign):
    _warm(app, token)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "pay_same"}
    responses = _race(app, [(gift(amount_pence=5000), headers)] * THREADS)
    assert {status for status, _body, _replayed in responses} == {201}
    bodies = [body for _status, body, _replayed in responses]
    assert all(body == bodies[0] for body in bodies)
    assert sum(1 for *_rest, replayed in responses if replayed is None) == 1
    assert [e.amount_pence for e in ledger(app)] == [1, 5000]
    assert raised(app, campaign) == 5001


def test_identical_requests_from_a_fresh_token_record_one_entry(app, token, campaign):
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "pay_first"}
    responses = _race(app, [(gift(amount_pence=700), headers)] * THREADS)
    assert {status for status, _body, _replayed in responses} == {201}
    assert len(ledger(app)) == 1 and raised(app, campaign) == 700


def test_different_keys_at_once_are_all_counted(app, token, campaign):
    _warm(app, token)
    requests = [
        (gift(amount_pence=100 * (i + 1)),
         {"Authorization": f"Bearer {token}", "Idempotency-Key": f"pay_{i}"})
        for i in range(THREADS)
    ]
    responses = _race(app, requests)
    assert [status for status, *_rest in responses] == [201] * THREADS
    expected = 1 + sum(100 * (i + 1) for i in range(THREADS))
    assert raised(app, campaign) == expected
    assert sum(e.amount_pence for e in ledger(app)) == expected
    with app.app_context():
        from coop.extensions import db
        from coop.fund.services import verify_totals

        _checked, differences = verify_totals(db.session)
    assert differences == []
