"""Campaigns are named like the paper names them, "November 2026 fighting fund", by one
function (the roll-over, the staff default, the demo); staff can rename, and the audit log
keeps the old and new name."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from coop.audit import AuditEvent
from coop.cli import load_seed_file
from coop.extensions import db as _db
from coop.fund import seed, services
from coop.fund.models import Campaign

D = dt.date


@pytest.mark.parametrize(("start", "end", "name"), [
    (D(2026, 11, 1), D(2026, 11, 30), "November 2026 fighting fund"),
    (D(2026, 11, 13), D(2026, 12, 12), "November 2026 fighting fund"),
    (D(2026, 11, 24), D(2026, 12, 23), "November 2026 fighting fund"),  # a week left: its own
    (D(2026, 11, 25), D(2026, 12, 31), "December 2026 fighting fund"),  # six days left
    (D(2026, 12, 30), D(2027, 1, 31), "January 2027 fighting fund"),  # across the year
    (D(2026, 11, 27), D(2026, 11, 30), "November 2026 fighting fund"),  # all in November
    (D(2027, 2, 23), D(2027, 3, 31), "March 2027 fighting fund"),  # 28-day February
    (D(2027, 2, 22), D(2027, 3, 21), "February 2027 fighting fund"),
])
def test_campaign_name(start, end, name):
    assert services.campaign_name(start, end) == name


def test_roll_over_and_the_staff_default_use_it(app, db, make_campaign):
    make_campaign("2026-11", name="Whatever staff called it", opens_on=D(2026, 11, 1),
                  deadline=D(2026, 11, 26))
    values = services.next_month_values(db.session, D(2026, 11, 20))
    assert (values["opens_on"], values["deadline"]) == (D(2026, 11, 27), D(2026, 12, 31))
    assert values["name"] == "December 2026 fighting fund"
    campaign = services.roll_over(db.session, D(2026, 11, 26))
    assert campaign.name == "December 2026 fighting fund"


def test_staff_new_campaign_form_suggests_the_name(client, login_as, make_campaign):
    make_campaign("2026-11", name="November 2026 fighting fund", opens_on=D(2026, 11, 1),
                  deadline=D(2026, 11, 30))
    login_as("staff")
    html = client.get("/staff/fund/campaigns/new").get_data(as_text=True)
    assert 'value="December 2026 fighting fund"' in html
    assert "Create December 2026 fighting fund" in client.get("/staff/fund").get_data(
        as_text=True)


#: 5 June 2026: the two oldest 30-day demo campaigns would both be March's by the rule
@pytest.mark.parametrize("load_day", [D(2026, 11, 13), D(2026, 6, 5), D(2026, 9, 1)])
def test_demo_campaigns_have_month_names_and_no_two_alike(app, db, load_day):
    with app.test_request_context():
        data = load_seed_file("fund")
    seed.load(db.session, data, load_day)
    db.session.commit()
    campaigns = db.session.scalars(sa.select(Campaign).order_by(Campaign.opens_on)).all()
    names = [c.name for c in campaigns]
    assert len(set(names)) == len(names) == 4, names
    assert all("fighting fund" in n and "Fighting fund to" not in n for n in names)
    current = services.current_campaign(db.session, load_day)
    assert current.name == services.campaign_name(current.opens_on, current.deadline)


def test_staff_rename_is_obvious_and_audited(app, client, login_as, make_campaign):
    cid = make_campaign("2026-11", name="Fighting fund to 30 November 2026",
                        opens_on=D(2026, 11, 1), deadline=D(2026, 11, 30))
    staff = login_as("staff")
    page = client.get(f"/staff/fund/{cid}").get_data(as_text=True)
    assert f'href="/staff/fund/{cid}/edit#name">Rename' in page
    form = client.get(f"/staff/fund/{cid}/edit").get_data(as_text=True)
    assert 'id="name"' in form and "The name, target, dates and texts can change" in form
    response = client.post(f"/staff/fund/{cid}/edit", data={
        "name": "November 2026 fighting fund", "target": "18,000",
        "opens_on": "2026-11-01", "deadline": "2026-11-30", "donate_url": "",
        "thank_you_text": ""})
    assert response.status_code == 302
    flashed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert ("Renamed “Fighting fund to 30 November 2026” to “November 2026 fighting fund”"
            in flashed)
    with app.app_context():
        assert _db.session.get(Campaign, cid).name == "November 2026 fighting fund"
        event = _db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "fund.campaign_updated")).one()
        assert event.actor_id == staff.id and event.subject_id == str(cid)
        assert event.details["before"]["name"] == "Fighting fund to 30 November 2026"
        assert event.details["name"] == "November 2026 fighting fund"
    # a bad name is refused next to the field, with the typed text kept
    response = client.post(f"/staff/fund/{cid}/edit", data={
        "name": "x" * 500, "target": "18,000", "opens_on": "2026-11-01",
        "deadline": "2026-11-30", "donate_url": "", "thank_you_text": ""})
    assert response.status_code == 422 and 'id="name-error"' in response.text


def test_the_next_campaign_fills_the_gap_before_one_set_up_later(db, make_campaign):
    """QA: with the demo's campaign ending on 24 December and a January appeal set up, the
    one-click campaign skipped to February with the appeal's target, leaving 25 to 31
    December uncovered. It fills the gap, with the target of the campaign it follows."""
    make_campaign("2026-12", name="December 2026 fighting fund", target_pence=1_800_000,
                  opens_on=D(2026, 11, 25), deadline=D(2026, 12, 24))
    make_campaign("appeal", name="January appeal", target_pence=2_500_000,
                  opens_on=D(2027, 1, 1), deadline=D(2027, 1, 31))
    values = services.next_month_values(db.session, D(2026, 12, 7))
    assert (values["opens_on"], values["deadline"]) == (D(2026, 12, 25), D(2026, 12, 31))
    assert values["target_pence"] == 1_800_000
    # the month's name is the demo campaign's already: this one is named by its dates
    assert values["name"] == "Fighting fund, 25 to 31 December 2026"
    services.create_next_month(db.session, D(2026, 12, 7))
    after = services.next_month_values(db.session, D(2026, 12, 7))  # then after the appeal
    assert (after["opens_on"], after["deadline"]) == (D(2027, 2, 1), D(2027, 2, 28))
    assert (after["name"], after["target_pence"]) == ("February 2027 fighting fund", 2_500_000)


def test_the_next_campaign_after_a_lapse_starts_where_the_last_one_closed(db, make_campaign):
    """No campaign for a few days (the roll-over was off): the next covers them too."""
    make_campaign("2026-10", opens_on=D(2026, 10, 1), deadline=D(2026, 10, 31))
    values = services.next_month_values(db.session, D(2026, 11, 4))
    assert (values["opens_on"], values["deadline"]) == (D(2026, 11, 1), D(2026, 11, 30))


def test_an_old_gap_is_history_not_the_next_campaign(db, make_campaign):
    """Review: with October and December campaigns, the button on 7 December offered
    November; and a gap from 2024 made the roll-over fill it a month an hour."""
    make_campaign("2024-01", opens_on=D(2024, 1, 1), deadline=D(2024, 1, 31))
    make_campaign("2026-10", opens_on=D(2026, 10, 1), deadline=D(2026, 10, 31))
    make_campaign("2026-12", opens_on=D(2026, 12, 1), deadline=D(2026, 12, 31))
    values = services.next_month_values(db.session, D(2026, 12, 7))
    assert (values["opens_on"], values["deadline"]) == (D(2027, 1, 1), D(2027, 1, 31))
    assert services.roll_over(db.session, D(2026, 12, 7)) is None  # tomorrow is covered
    opened = services.roll_over(db.session, D(2026, 12, 31))
    assert (opened.opens_on, opened.deadline) == (D(2027, 1, 1), D(2027, 1, 31))
