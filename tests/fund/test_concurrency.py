"""Many writers at once: nothing lost, nothing counted twice (real threads, a Barrier)."""

from __future__ import annotations

import threading

import pytest

from coop.extensions import db as _db
from coop.fund import services
from coop.fund.models import Campaign
from tests.conftest import login
from tests.fund.conftest import london_today

pytestmark = pytest.mark.slow

THREADS = 8
PER_THREAD = 5


def test_many_threads_adding_entries_keep_the_total_exact(app, campaign_id, runner):
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    amounts = [[(t + 1) * 100 + i for i in range(PER_THREAD)] for t in range(THREADS)]

    def work(mine: list[int]) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                for pence in mine:
                    campaign = _db.session.get(Campaign, campaign_id)
                    services.add_entry(_db.session, campaign, pence, received_on=london_today(),
                                       source="online", via="api:test")
                    _db.session.commit()
                _db.session.remove()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(mine,)) for mine in amounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        assert campaign.raised_pence == sum(sum(mine) for mine in amounts)
        assert campaign.entry_count == THREADS * PER_THREAD
        assert services.verify_totals(_db.session) == (1, [])
    result = runner.invoke(args=["fund-verify"])
    assert result.exit_code == 0, result.output
    client = app.test_client()
    assert client.get("/api/fund").get_json()["raised_pence"] == sum(map(sum, amounts))


def test_two_set_total_forms_sent_together_one_wins(app, make_user, campaign_id):
    """Both loaded at £100 (1 entry); both sent at once: one is saved, the other refused."""
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        services.add_entry(_db.session, campaign, 10_000, received_on=london_today(),
                           source="post")
        _db.session.commit()
    clients = []
    for _ in range(2):
        client = app.test_client()
        assert login(client, make_user("staff").email).status_code == 302
        page = client.get(f"/staff/fund/{campaign_id}/set-total").get_data(as_text=True)
        assert 'name="expected_pence" type="hidden" value="10000"' in page
        clients.append(client)
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def send(client, total: str) -> None:
        barrier.wait(timeout=30)
        response = client.post(f"/staff/fund/{campaign_id}/set-total", data={
            "new_total": total, "expected_pence": "10000", "expected_count": "1",
            "received_on": london_today().isoformat()})
        results[total] = response.status_code

    threads = [threading.Thread(target=send, args=(c, t))
               for c, t in zip(clients, ("250", "300"), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results.values()) == [302, 409], results
    winner = next(total for total, status in results.items() if status == 302)
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        assert campaign.raised_pence == int(winner) * 100
        assert campaign.entry_count == 2  # the gift and one correction; nothing lost
        assert services.verify_totals(_db.session) == (1, [])


def test_two_overlapping_campaigns_created_at_once_make_one(app):
    """Both find the days free unless the check and the write are serialised: one campaign,
    the other told which one is in the way."""
    import datetime as dt

    today = london_today()
    barrier, outcomes, lock = threading.Barrier(4), [], threading.Lock()

    def create(n: int) -> None:
        with app.app_context():
            barrier.wait(timeout=30)
            try:
                services.create_campaign(
                    _db.session, name=f"Appeal {n}", slug=f"appeal-{n}", target_pence=100,
                    opens_on=today + dt.timedelta(days=n), deadline=today + dt.timedelta(days=30))
                _db.session.commit()
                outcome = "created"
            except services.InvalidCampaign as err:
                _db.session.rollback()
                outcome = "refused" if "can't share a day" in err.message else err.message
            finally:
                _db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["created"] + ["refused"] * 3
    with app.app_context():
        assert _db.session.query(Campaign).count() == 1
