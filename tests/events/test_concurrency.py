"""Two people taking the last place at the same moment: one gets it, the other waits."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from coop.events.models import Registration
from coop.extensions import db as _db

pytestmark = pytest.mark.slow


def run_together(app, slug: str, people: list[int]) -> list[int]:
    barrier = threading.Barrier(len(people))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=10)
            response = client.post(f"/events/{slug}/register",
                                   data={"name": f"P{n}", "email": f"p{n}@example.org"})
            statuses.append(response.status_code)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return statuses


@pytest.mark.parametrize("round_", range(3))
def test_last_place_goes_to_exactly_one_of_two(app, make_event, round_):
    event = make_event("One place left", capacity=1)
    statuses = run_together(app, event.slug, [1, 2])
    assert statuses == [302, 302]
    with app.app_context():
        rows = _db.session.scalars(sa.select(Registration.status)
                                   .where(Registration.event_id == event.id)).all()
    assert sorted(rows) == ["registered", "waiting"]


def test_many_at_once_never_exceed_capacity(app, make_event):
    event = make_event("Three places", capacity=3)
    statuses = run_together(app, event.slug, list(range(8)))
    assert statuses == [302] * 8
    with app.app_context():
        rows = _db.session.scalars(sa.select(Registration.status)
                                   .where(Registration.event_id == event.id)).all()
    assert rows.count("registered") == 3 and rows.count("waiting") == 5


def test_same_email_twice_at_once_makes_one_registration(app, make_event):
    event = make_event("Popular", capacity=10)
    barrier = threading.Barrier(2)
    answers: list[tuple[int, str | None]] = []

    def worker() -> None:
        client = app.test_client()
        barrier.wait(timeout=10)
        response = client.post(f"/events/{event.slug}/register",
                               data={"name": "Same", "email": "same@example.org"})
        answers.append((response.status_code, response.headers.get("Location")))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # both answered alike: neither may tell that the address is already registered
    assert answers == [(302, f"/events/{event.slug}")] * 2
    with app.app_context():
        count = _db.session.scalar(sa.select(sa.func.count()).select_from(Registration))
    assert count == 1
