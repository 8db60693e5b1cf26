"""The ledger rules: entries, corrections, the running total, set-total, batches, campaigns."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from coop.audit import AuditEvent
from coop.fund import services
from coop.fund.models import Campaign, Entry
from coop.fund.services import BatchLine
from tests.fund.conftest import london_today


def _campaign(db, campaign_id) -> Campaign:
    return db.session.get(Campaign, campaign_id)


def test_add_entry_moves_running_total_and_count(db, campaign_id, make_user):
    staff = make_user("staff")
    campaign = _campaign(db, campaign_id)
    before = campaign.updated_at
    entry = services.add_entry(db.session, campaign, 1250, received_on=london_today(),
                               source="post", by=staff.id, donor_name="  J.  Smith ",
                               donor_town="Leeds", may_thank=True)
    db.session.commit()
    assert entry.id and entry.via == "staff" and entry.entered_by_id == staff.id
    assert entry.donor_name == "J. Smith"
    db.session.expire_all()
    campaign = _campaign(db, campaign_id)
    assert (campaign.raised_pence, campaign.entry_count) == (1250, 1)
    assert campaign.updated_at > before
    audit = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "fund.entry"))
    assert [a.details["amount_pence"] for a in audit] == [1250]


@pytest.mark.parametrize("amount,kwargs,field", [
    (0, {}, "amount_pence"),
    (-500, {}, "amount_pence"),
    (10_000_001, {}, "amount_pence"),
    (12.5, {}, "amount_pence"),
    (True, {}, "amount_pence"),
    (100, {"source": "bitcoin"}, "source"),
    (100, {"received_on_offset": -11}, "received_on"),
    (100, {"received_on_offset": 1}, "received_on"),  # the future
    (100, {"donor_name": "x" * 121}, "donor_name"),
    (-100, {"reason": "   "}, "amount_pence"),
])
def test_add_entry_refuses_bad_values(db, campaign_id, amount, kwargs, field):
    campaign = _campaign(db, campaign_id)
    offset = kwargs.pop("received_on_offset", 0)
    kwargs.setdefault("source", "post")
    with pytest.raises(services.InvalidEntry) as err:
        services.add_entry(db.session, campaign, amount,
                           received_on=london_today() + dt.timedelta(days=offset), **kwargs)
    assert err.value.field == field
    assert str(err.value)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Entry)) == 0
    assert _campaign(db, campaign_id).raised_pence == 0


def test_max_gift_comes_from_config(make_app, make_campaign):
    app = make_app(FUND_MAX_GIFT_PENCE=5000)
    from coop.extensions import db

    with app.app_context():
        cid = make_campaign()
        campaign = db.session.get(Campaign, cid)
        services.add_entry(db.session, campaign, 5000, received_on=london_today(), source="post")
        with pytest.raises(services.InvalidEntry, match="£50"):
            services.add_entry(db.session, campaign, 5001, received_on=london_today(),
                               source="post")


def test_correction_needs_reason_and_cannot_go_below_zero(db, campaign_id):
    campaign = _campaign(db, campaign_id)
    today = london_today()
    services.add_entry(db.session, campaign, 1000, received_on=today, source="online")
    with pytest.raises(services.InvalidEntry) as err:
        services.add_correction(db.session, campaign, -500, reason="", received_on=today)
    assert err.value.field == "reason"
    with pytest.raises(services.InvalidEntry) as err:
        services.add_correction(db.session, campaign, -1001, reason="typo", received_on=today)
    assert err.value.field == "amount_pence" and "below zero" in str(err.value)
    entry = services.add_correction(db.session, campaign, -300, reason="Cheque bounced",
                                    received_on=today)
    db.session.commit()
    assert entry.is_correction and entry.amount_pence == -300
    assert _campaign(db, campaign_id).raised_pence == 700
    assert services.verify_totals(db.session) == (1, [])


def test_closed_campaign_takes_nothing(db, campaign_id):
    campaign = _campaign(db, campaign_id)
    services.close_campaign(db.session, campaign)
    db.session.commit()
    with pytest.raises(services.CampaignClosed):
        services.add_entry(db.session, campaign, 100, received_on=london_today(), source="post")


def test_batch_is_all_or_nothing_and_names_the_line(db, campaign_id):
    campaign = _campaign(db, campaign_id)
    lines = [BatchLine(1000), BatchLine(2500, donor_name="A. Reader", donor_town="Hull",
                                        may_thank=True), BatchLine(0), BatchLine(700)]
    with pytest.raises(services.BatchError) as err:
        services.add_batch(db.session, campaign, lines, received_on=london_today())
    assert err.value.line == 3 and "Line 3" in str(err.value)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Entry)) == 0
    entries = services.add_batch(db.session, campaign, [lines[0], lines[1], lines[3]],
                                 received_on=london_today())
    db.session.commit()
    assert [e.amount_pence for e in entries] == [1000, 2500, 700]
    assert {e.via for e in entries} == {"batch"}
    assert _campaign(db, campaign_id).raised_pence == 4200


def test_set_total_records_the_difference_and_is_guarded(db, campaign_id):
    campaign = _campaign(db, campaign_id)
    today = london_today()
    services.add_entry(db.session, campaign, 10_000, received_on=today, source="post")
    db.session.commit()
    entry = services.set_total(db.session, campaign, 12_550, expected_pence=10_000,
                               expected_count=1, received_on=today)
    db.session.commit()
    assert entry.amount_pence == 2550 and entry.reason.startswith("Total set to £125.50")
    assert campaign.raised_pence == 12_550
    with pytest.raises(services.TotalChanged) as err:
        services.set_total(db.session, campaign, 9_000, expected_pence=10_000,
                           expected_count=1, received_on=today)
    assert err.value.current_pence == 12_550
    db.session.rollback()
    with pytest.raises(services.InvalidEntry, match="already"):
        services.set_total(db.session, campaign, 12_550, expected_pence=12_550,
                           expected_count=2, received_on=today)
    assert services.verify_totals(db.session) == (1, [])


def test_verify_totals_reports_a_difference(db, campaign_id):
    campaign = _campaign(db, campaign_id)
    services.add_entry(db.session, campaign, 500, received_on=london_today(), source="post")
    db.session.execute(sa.update(Campaign).values(raised_pence=600))
    db.session.commit()
    checked, differences = services.verify_totals(db.session)
    assert checked == 1
    assert [(d.stored_pence, d.ledger_pence) for d in differences] == [(600, 500)]
    assert "£6.00" in differences[0].describe()


def test_current_campaign_prefers_open_then_upcoming(db, make_campaign):
    today = london_today()
    assert services.current_campaign(db.session, today) is None
    make_campaign("past", opens_on=today - dt.timedelta(days=40),
                  deadline=today - dt.timedelta(days=1))
    make_campaign("next", opens_on=today + dt.timedelta(days=5),
                  deadline=today + dt.timedelta(days=30))
    assert services.current_campaign(db.session, today).slug == "next"
    make_campaign("now", opens_on=today, deadline=today + dt.timedelta(days=2))
    assert services.current_campaign(db.session, today).slug == "now"
    assert services.get_campaign(db.session, "past").slug == "past"
    assert services.get_campaign(db.session, "nope") is None


@pytest.mark.parametrize("values,field", [
    ({"target_pence": 0}, "target_pence"),
    ({"deadline": dt.date(2026, 10, 31)}, "deadline"),
    ({"slug": "Bad Slug"}, "slug"),
    ({"slug": "archive"}, "slug"),
    ({"name": ""}, "name"),
    ({"donate_url": "javascript:alert(1)"}, "donate_url"),
    ({"donate_url": "http://example.org/give"}, "donate_url"),  # the message says https://
    ({"donate_url": "//elsewhere.example/give"}, "donate_url"),
    ({"deadline": dt.date(2099, 12, 31)}, "deadline"),
])
def test_campaign_values_are_checked(db, values, field):
    data = {"name": "November", "slug": "2026-11", "target_pence": 1_800_000,
            "opens_on": dt.date(2026, 11, 1), "deadline": dt.date(2026, 11, 30)}
    data.update(values)
    with pytest.raises(services.InvalidCampaign) as err:
        services.create_campaign(db.session, **data)
    assert err.value.field == field


def test_duplicate_slug_refused(db, make_campaign):
    make_campaign("2026-11")
    with pytest.raises(services.InvalidCampaign, match="already"):
        services.create_campaign(db.session, name="x", slug="2026-11", target_pence=1,
                                 opens_on=dt.date(2026, 11, 1), deadline=dt.date(2026, 11, 2))


def test_update_campaign_cannot_strand_entries(db, campaign_id):
    campaign = _campaign(db, campaign_id)
    today = london_today()
    services.add_entry(db.session, campaign, 500, received_on=today, source="post")
    with pytest.raises(services.InvalidCampaign) as err:
        services.update_campaign(db.session, campaign, name="x", target_pence=100,
                                 opens_on=today + dt.timedelta(days=1),
                                 deadline=today + dt.timedelta(days=5))
    assert err.value.field == "opens_on"
    services.update_campaign(db.session, campaign, name="Renamed", target_pence=2_000_000,
                             opens_on=today, deadline=today + dt.timedelta(days=5))
    db.session.commit()
    assert campaign.target_pence == 2_000_000 and campaign.raised_pence == 500


def test_next_month_campaign(db, make_campaign):
    make_campaign("2026-11", target_pence=1_800_000, opens_on=dt.date(2026, 11, 1),
                  deadline=dt.date(2026, 11, 30))
    campaign = services.create_next_month(db.session, dt.date(2026, 11, 20))
    assert (campaign.slug, campaign.name) == ("2026-12", "December 2026 fighting fund")
    assert (campaign.opens_on, campaign.deadline) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert campaign.target_pence == 1_800_000
    assert campaign.donate_url == "https://example.org/give"
    following = services.create_next_month(db.session, dt.date(2026, 11, 20))
    assert (following.slug, following.deadline) == ("2027-01", dt.date(2027, 1, 31))


def test_open_campaigns_dont_share_a_day(db, make_campaign):
    """A gift's day says which campaign it counts for: a second open campaign over the same
    days is refused (naming the one in the way), by creation, by a change of dates and by
    reopening; a campaign closed early leaves its days to the next."""
    today = london_today()
    first = make_campaign("first")  # today - 10 .. today + 17
    with pytest.raises(services.InvalidCampaign, match="“Campaign first” runs from") as err:
        services.create_campaign(db.session, name="Clash", slug="clash",
                                 target_pence=100, opens_on=today + dt.timedelta(days=17),
                                 deadline=today + dt.timedelta(days=40))
    assert err.value.field == "opens_on"
    db.session.rollback()
    later = services.create_campaign(db.session, name="Next", slug="next", target_pence=100,
                                     opens_on=today + dt.timedelta(days=18),
                                     deadline=today + dt.timedelta(days=40))
    db.session.commit()
    with pytest.raises(services.InvalidCampaign, match="can't share a day"):
        services.update_campaign(db.session, later, name="Next", target_pence=100,
                                 opens_on=today, deadline=today + dt.timedelta(days=40))
    db.session.rollback()
    # closed early: its days are free for another, which then stops it reopening
    services.close_campaign(db.session, db.session.get(Campaign, first))
    services.create_campaign(db.session, name="Instead", slug="instead", target_pence=100,
                             opens_on=today, deadline=today + dt.timedelta(days=17))
    db.session.commit()
    with pytest.raises(services.InvalidCampaign, match="It can't reopen: “Instead”"):
        services.reopen_campaign(db.session, db.session.get(Campaign, first))
    db.session.rollback()
    assert db.session.get(Campaign, first).closed_at is not None


def test_a_campaign_runs_a_year_at_most(db):
    with pytest.raises(services.InvalidCampaign, match="a year at most") as err:
        services.create_campaign(db.session, name="Forever", slug="forever", target_pence=100,
                                 opens_on=dt.date(2027, 1, 1), deadline=dt.date(2099, 12, 31))
    assert err.value.field == "deadline"
    db.session.rollback()
    services.create_campaign(db.session, name="Leap year", slug="leap", target_pence=100,
                             opens_on=dt.date(2028, 1, 1), deadline=dt.date(2028, 12, 31))


def test_campaigns_that_overlapped_before_the_rule_can_still_be_renamed(db):
    """Made before the rule: renaming either isn't held up; moving its dates is checked."""
    for slug in ("old-a", "old-b"):
        db.session.add(Campaign(name=slug, slug=slug, target_pence=100,
                                opens_on=dt.date(2026, 12, 1), deadline=dt.date(2026, 12, 31)))
    db.session.commit()
    a = db.session.scalar(sa.select(Campaign).where(Campaign.slug == "old-a"))
    services.update_campaign(db.session, a, name="Renamed", target_pence=100,
                             opens_on=a.opens_on, deadline=a.deadline)
    db.session.commit()
    with pytest.raises(services.InvalidCampaign, match="can't share a day"):
        services.update_campaign(db.session, a, name="Renamed", target_pence=100,
                                 opens_on=a.opens_on, deadline=dt.date(2027, 1, 5))
    db.session.rollback()


@pytest.mark.parametrize("url", ["/\\evil.example/pay", "/%2F%2Fevil.example", "/\tx"])
def test_a_donate_link_on_this_site_is_a_path_of_this_site(db, url):
    with pytest.raises(services.InvalidCampaign) as err:
        services.create_campaign(db.session, name="N", slug="n", target_pence=100,
                                 opens_on=dt.date(2031, 1, 1), deadline=dt.date(2031, 1, 31),
                                 donate_url=url)
    assert err.value.field == "donate_url"
