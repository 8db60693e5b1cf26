"""Two people taking the last place at the same moment: one gets it, the other waits."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from coop.events.models import Event, Registration
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


def _wait_for_a_lock_wait(engine) -> None:
    """Until another connection to this test's database waits on a lock (10 s at most)."""
    pause = threading.Event()
    with engine.connect() as watcher:
        for _ in range(1000):
            waiting = watcher.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND pid <> pg_backend_pid()")).scalar()
            watcher.rollback()  # pg_stat_activity is read once per transaction
            if waiting:
                return
            pause.wait(0.01)
    pytest.fail("the confirmation never waited on the other's registration")


def test_a_registration_for_a_new_email_while_it_is_confirmed(app, make_user, make_event,
                                                              outbox):
    """Someone registers the new address for an event (their transaction still open) while
    the member confirms their change of email, with the member's place at that event at the
    old address. On PostgreSQL the confirmation waits on the unique index, fails when the
    other commits, is rolled back whole and made again, and leaves that place alone; on SQLite
    the writers queue for the one lock, so the other's commit comes first. Either way: no
    error, the change made once, the other's place kept."""
    from tests.conftest import ENGINE
    from tests.events.conftest import ask_to_change_email, member_with_places

    user, (_talk, contested) = member_with_places(app, make_user, make_event, "Eve", "A talk",
                                                  "Contested")
    client, link = ask_to_change_email(app, outbox, user, "eve.new@example.org")

    with app.app_context():
        engine = _db.engine
    other = engine.connect()
    other_tx = other.begin()
    answers: list[int] = []
    thread = threading.Thread(target=lambda: answers.append(client.post(link).status_code))
    try:
        other.execute(sa.insert(Registration).values(
            event_id=contested.id, name="Other", email="eve.new@example.org",
            status="registered"))
        thread.start()
        if ENGINE == "postgresql":  # wait until the confirmation waits on the other's row
            _wait_for_a_lock_wait(engine)
        other_tx.commit()
    finally:
        other.close()  # rolls back what wasn't committed, so nothing is left waiting
        thread.join(timeout=60)
    assert answers == [302]
    with app.app_context():
        rows = _db.session.execute(sa.select(Event.title, Registration.name, Registration.email)
                                   .join(Event).order_by(Registration.id)).all()
        assert rows == [("A talk", "Eve", "eve.new@example.org"),
                        ("Contested", "Eve", "eve@example.org"),
                        ("Contested", "Other", "eve.new@example.org")]
    told = [m for m in outbox() if m["To"] == "eve@example.org"
            and "email address was changed" in m["Subject"]]
    assert len(told) == 1


@pytest.mark.parametrize("round_", range(2))
def test_two_staff_cancelling_an_event_at_once_tell_everyone_once(app, make_event, make_user,
                                                                 outbox, round_):
    """Review: both requests saw the event open, so a double click on "Cancel this event"
    could email everyone twice. Read holding the event's lock, one cancels and tells, the
    other changes nothing."""
    from tests.conftest import login

    event = make_event("Called off", capacity=5)
    public = app.test_client()
    for n in range(3):
        public.post(f"/events/{event.slug}/register",
                    data={"name": f"P{n}", "email": f"p{n}@example.org"})
    before = len(outbox())
    staff = make_user("staff")
    clients = [app.test_client(), app.test_client()]
    for client in clients:
        assert login(client, staff.email).status_code == 302
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def worker(client) -> None:
        barrier.wait(timeout=10)
        statuses.append(client.post(f"/staff/events/{event.id}/cancel",
                                    data={"confirm": "y"}).status_code)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [302, 302]
    told = [m["To"] for m in outbox()[before:]]
    assert sorted(told) == ["p0@example.org", "p1@example.org", "p2@example.org"]
    with app.app_context():
        from coop.audit import AuditEvent

        assert _db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "event.cancelled")) == 1
