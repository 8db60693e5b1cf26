"""The campaign page's running tally: incremental, exact, rebuilt when the ledger surprises it."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from coop.fund import services
from coop.fund.models import Campaign, Entry
from coop.fund.tally import TallyKeeper
from tests.fund.conftest import london_today


def _add(db, cid, pence, **kwargs):
    kwargs.setdefault("received_on", london_today())
    campaign = db.session.get(Campaign, cid)
    services.add_entry(db.session, campaign, pence, source="post", **kwargs)
    db.session.commit()
    return campaign


def _get(keeper, db, cid):
    campaign = db.session.get(Campaign, cid)
    db.session.refresh(campaign)
    return keeper.get(db.engine, cid, count=campaign.entry_count)


class Counter:
    def __init__(self, engine):
        self.engine, self.statements = engine, []

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, *args):
        if "fund_entries" in statement:
            self.statements.append(statement)


def test_tally_matches_the_ledger_and_grows_incrementally(db, campaign_id):
    keeper = TallyKeeper()
    yesterday = london_today() - dt.timedelta(days=1)
    _add(db, campaign_id, 1000, received_on=yesterday, donor_name="A. One", donor_town="Ayr",
         may_thank=True)
    _add(db, campaign_id, 500, donor_name="B. Two", may_thank=False)
    tally = _get(keeper, db, campaign_id)
    assert tally.daily == {yesterday: 1000, london_today(): 500}
    assert tally.thanks == ["A. One of Ayr"] and (tally.count, tally.raised) == (2, 1500)

    _add(db, campaign_id, 250, donor_name="C. Three", donor_town="Cork", may_thank=True)
    campaign = db.session.get(Campaign, campaign_id)
    services.add_correction(db.session, campaign, -100, reason="typo",
                            received_on=yesterday)
    db.session.commit()
    with Counter(db.engine) as counter:
        tally = _get(keeper, db, campaign_id)
    assert len(counter.statements) == 1 and "fund_entries.id >" in counter.statements[0]
    assert tally.daily == {yesterday: 900, london_today(): 750}
    assert tally.thanks == ["C. Three of Cork", "A. One of Ayr"]
    with Counter(db.engine) as counter:
        assert _get(keeper, db, campaign_id) is tally  # nothing new: no query at all
    assert counter.statements == []


def test_tally_rebuilds_when_an_entry_commits_out_of_order(db, campaign_id):
    keeper = TallyKeeper()
    _add(db, campaign_id, 1000)
    _add(db, campaign_id, 2000)
    _get(keeper, db, campaign_id)
    # An entry with a lower id than one already seen (as when an earlier transaction commits
    # late): the incremental step misses it, sees the totals disagree and rebuilds.
    db.session.execute(sa.delete(Entry).where(Entry.amount_pence == 1000))
    db.session.execute(sa.insert(Entry).values(id=1, campaign_id=campaign_id, amount_pence=1000,
                                               received_on=london_today(), source="post",
                                               may_thank=False, via="test"))
    _add(db, campaign_id, 300)
    tally = _get(keeper, db, campaign_id)
    assert (tally.count, tally.raised) == (3, 3300)


def test_a_replaced_ledger_is_rebuilt(db, campaign_id):
    keeper = TallyKeeper()
    _add(db, campaign_id, 1000)
    _get(keeper, db, campaign_id)
    db.session.execute(sa.delete(Entry))
    db.session.execute(sa.insert(Entry), [
        {"campaign_id": campaign_id, "amount_pence": 7, "received_on": london_today(),
         "source": "online", "may_thank": False, "via": "bench"} for _ in range(6000)])
    db.session.execute(sa.update(Campaign).values(raised_pence=42_000, entry_count=6000))
    db.session.commit()
    tally = _get(keeper, db, campaign_id)
    assert (tally.count, tally.raised) == (6000, 42_000)


def test_a_name_decided_in_another_process_reaches_the_tally_with_one_query(db, campaign_id):
    """The keeper only learns of a decision from the figures' ``thanks_version`` (another
    process made it): it reads the thanks list again, not the ledger, and only then."""
    keeper = TallyKeeper()
    _add(db, campaign_id, 1000, donor_name="A. One", donor_town="Ayr", may_thank=True)
    _add(db, campaign_id, 500, donor_name="Typed Online", may_thank=True, name_to_check=True)
    tally = _get(keeper, db, campaign_id)
    assert tally.thanks == ["A. One of Ayr"] and tally.thanks_version == 0
    waiting = db.session.scalar(sa.select(Entry.id).where(Entry.thanks_check == "waiting"))
    services.decide_thanks(db.session, waiting, show=True)
    db.session.commit()
    # figures still a moment old (version 0): the tally is kept as it is
    assert keeper.get(db.engine, campaign_id, count=2, thanks_version=0) is tally
    with Counter(db.engine) as counter:
        fresh = keeper.get(db.engine, campaign_id, count=2, thanks_version=1)
    assert fresh.thanks == ["Typed Online", "A. One of Ayr"] and fresh.thanks_version == 1
    assert (fresh.count, fresh.raised, fresh.daily) == (tally.count, tally.raised, tally.daily)
    assert len(counter.statements) == 1 and "GROUP BY" not in counter.statements[0]
    with Counter(db.engine) as counter:
        assert keeper.get(db.engine, campaign_id, count=2, thanks_version=1) is fresh
    assert counter.statements == []
