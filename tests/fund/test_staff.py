"""Staff pages: strict amounts, errors next to fields, batch all-or-nothing, set-total guard,
corrections, the ledger and its CSV, campaigns, the daily report, verification."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re

import pytest
import sqlalchemy as sa

from coop.extensions import db as _db
from coop.fund import services
from coop.fund.models import THANKS_NEED_A_NAME, Campaign, Entry
from tests.fund.conftest import london_today


@pytest.fixture
def staff(login_as):
    return login_as("staff")


def _campaign(app, campaign_id) -> Campaign:
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        _db.session.expunge(campaign)
        return campaign


def _entries(app) -> list[Entry]:
    with app.app_context():
        entries = _db.session.scalars(sa.select(Entry).order_by(Entry.id)).all()
        _db.session.expunge_all()
        return entries


def _gift(client, campaign_id, **data):
    form = {"amount": "25", "received_on": london_today().isoformat(), "source": "post",
            "donor_name": "", "donor_town": ""}
    form.update(data)
    return client.post(f"/staff/fund/{campaign_id}/gifts/new", data=form)


@pytest.mark.parametrize("typed,pence", [
    ("12", 1200), ("12.50", 1250), ("£12.50", 1250), ("1,000", 100_000),
    ("£1,000.00", 100_000), ("12.5", 1250), (" 7 ", 700), ("£100,000", 10_000_000),
])
def test_add_gift_accepts_amounts_people_type(app, client, staff, campaign_id, typed, pence):
    response = _gift(client, campaign_id, amount=typed, donor_name="J. Smith",
                     donor_town="Leeds", may_thank="y")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/fund/{campaign_id}/gifts/new"
    [entry] = _entries(app)
    assert entry.amount_pence == pence and entry.entered_by_id == staff.id
    assert (entry.donor_name, entry.donor_town, entry.may_thank) == ("J. Smith", "Leeds", True)
    assert _campaign(app, campaign_id).raised_pence == pence
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "now stands at" in page


@pytest.mark.parametrize("typed,message", [
    ("abc", "Enter an amount in pounds, like 12 or 12.50."),
    ("-5", "Enter an amount greater than zero."),
    ("0", "Enter an amount greater than zero."),
    ("12.345", "Amounts can have at most two decimal places (pence)."),
    ("1e3", "Enter an amount in pounds, like 12 or 12.50."),
    ("", "Enter an amount."),
    ("£100,000.01", "The most we accept in one go is £100,000."),
    ("0x10", "Enter an amount in pounds, like 12 or 12.50."),
    ("12_000", "Enter an amount in pounds, like 12 or 12.50."),
    ("١٢", "Enter an amount in pounds, like 12 or 12.50."),
])
def test_add_gift_refuses_bad_amounts_and_keeps_the_rest(app, client, staff, campaign_id,
                                                         typed, message):
    response = _gift(client, campaign_id, amount=typed, donor_name="Zoë Ó Súilleabháin",
                     donor_town="Derry")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error_at = html.index('id="amount-error"')
    assert message.replace("'", "&#39;") in html[error_at:error_at + 200]
    assert html.index('id="amount-error"') < html.index('name="amount"')  # next to the field
    assert 'aria-invalid="true"' in html
    assert 'value="Zoë Ó Súilleabháin"' in html and 'value="Derry"' in html
    if typed:
        assert f'value="{typed}"' in html
    assert _entries(app) == []


def test_add_gift_outside_the_campaign_dates(app, client, staff, campaign_id):
    day = london_today() - dt.timedelta(days=30)
    response = _gift(client, campaign_id, received_on=day.isoformat())
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="received_on-error"' in html and "must be within the campaign" in html
    assert 'value="25"' in html
    response = _gift(client, campaign_id, received_on="not a date")
    assert response.status_code == 422 and 'id="received_on-error"' in response.get_data(
        as_text=True)
    assert _entries(app) == []


def test_add_gift_to_a_closed_campaign(app, client, staff, campaign_id):
    assert client.post(f"/staff/fund/{campaign_id}/close", data={"confirm": "y"}).status_code == 302
    response = _gift(client, campaign_id)
    assert response.status_code == 422
    assert "is closed and takes no more entries" in response.get_data(as_text=True)
    assert client.post(f"/staff/fund/{campaign_id}/reopen").status_code == 302
    assert _gift(client, campaign_id).status_code == 302


def _batch(client, campaign_id, lines, **extra):
    data = {"received_on": london_today().isoformat(), "source": "post", **extra}
    for i, line in enumerate(lines):
        for key, value in line.items():
            data[f"lines-{i}-{key}"] = value
    return client.post(f"/staff/fund/{campaign_id}/batch", data=data)


def test_a_gift_thanked_by_name_needs_the_name(app, client, staff, campaign_id):
    """As the API's rule: "may thank" with no name would print nobody's thanks."""
    response = _gift(client, campaign_id, donor_name="  ", donor_town="Hull", may_thank="y")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error_at = html.index('id="donor_name-error"')
    assert THANKS_NEED_A_NAME in html[error_at:error_at + 200]
    assert 'value="Hull"' in html and 'value="25"' in html
    assert _entries(app) == []
    assert _gift(client, campaign_id, donor_name="A. Reader", may_thank="y").status_code == 302
    assert [(e.donor_name, e.may_thank) for e in _entries(app)] == [("A. Reader", True)]


def test_a_batch_line_thanked_by_name_needs_the_name(app, client, staff, campaign_id):
    lines = [{"amount": "10"}, {"amount": "5", "donor_town": "Hull", "may_thank": "y"}]
    response = _batch(client, campaign_id, lines)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error_at = html.index('id="lines-1-donor_name-error"')
    assert THANKS_NEED_A_NAME in html[error_at:error_at + 200]
    assert "Check line 2. Nothing was saved." in html
    assert _entries(app) == []


def test_batch_is_all_or_nothing_and_names_the_failing_line(app, client, staff, campaign_id):
    lines = [{"amount": "10"}, {"amount": "£2,500", "donor_name": "A. Reader",
                                "donor_town": "Hull", "may_thank": "y"},
             {"amount": "", "donor_name": "", "donor_town": ""},  # a line left empty
             {"amount": "12.345"}, {"amount": "5"}]
    response = _batch(client, campaign_id, lines)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Check line 4. Nothing was saved." in html
    assert 'id="lines-3-amount-error"' in html
    assert 'value="12.345"' in html and 'value="A. Reader"' in html
    assert _entries(app) == []

    lines[3] = {"amount": "7.50"}
    response = _batch(client, campaign_id, lines)
    assert response.status_code == 302
    entries = _entries(app)
    assert [e.amount_pence for e in entries] == [1000, 250_000, 750, 500]
    assert {e.via for e in entries} == {"batch"} and {e.source for e in entries} == {"post"}
    assert _campaign(app, campaign_id).raised_pence == 252_250


def test_batch_rule_errors_found_by_the_service_also_roll_back(app, client, staff,
                                                               campaign_id):
    day = (london_today() - dt.timedelta(days=30)).isoformat()
    response = _batch(client, campaign_id, [{"amount": "10"}], received_on=day)
    assert response.status_code == 422 and "must be within the campaign" in response.text
    response = _batch(client, campaign_id, [{"donor_name": "No amount"}])
    assert response.status_code == 422 and "Enter an amount for this line." in response.text
    response = _batch(client, campaign_id, [])
    assert response.status_code == 422 and "Enter at least one amount." in response.text
    assert _entries(app) == []


def test_batch_form_shows_rows(client, staff, campaign_id):
    html = client.get(f"/staff/fund/{campaign_id}/batch?rows=3").get_data(as_text=True)
    assert 'name="lines-2-amount"' in html and 'name="lines-3-amount"' not in html
    html = client.get(f"/staff/fund/{campaign_id}/batch?rows=5000").get_data(as_text=True)
    assert 'name="lines-239-amount"' in html and 'name="lines-240-amount"' not in html


def test_batch_add_more_lines_keeps_every_typed_line_and_saves_nothing(app, client, staff,
                                                                       campaign_id):
    lines = [{"amount": str(n), "donor_name": f"Reader {n}", "donor_town": "Hull",
              "may_thank": "y"} for n in range(1, 11)]
    lines[3]["amount"] = "12.345"  # not checked yet: no error while the lines are typed
    response = _batch(client, campaign_id, lines, action="more")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for n in range(1, 11):
        assert f'value="Reader {n}"' in html
    assert 'value="12.345"' in html and 'id="errors"' not in html
    assert html.count('checked') >= 10  # the ticks are kept too
    assert 'name="lines-19-amount"' in html and 'name="lines-20-amount"' not in html
    # the button lands on the first new line
    assert f'formaction="/staff/fund/{campaign_id}/batch#lines-20-amount"' in html
    assert _entries(app) == []


def test_batch_takes_240_lines_and_no_more(app, client, staff, campaign_id):
    lines = [{"amount": "1.01"} for _ in range(235)]
    html = _batch(client, campaign_id, lines, action="more").get_data(as_text=True)
    assert 'name="lines-239-amount"' in html and 'name="lines-240-amount"' not in html
    assert "Add 10 more lines" not in html  # full: the button has gone
    # every field of every line filled: 960 form fields, under the request's 1,000-part limit
    full = [{"amount": "1.01", "donor_name": f"Reader {n}", "donor_town": "Leeds",
             "may_thank": "y"} for n in range(240)]
    response = _batch(client, campaign_id, full, csrf_token="x")
    assert response.status_code == 302
    entries = _entries(app)
    assert len(entries) == 240 and sum(e.amount_pence for e in entries) == 240 * 101
    assert entries[-1].donor_name == "Reader 239" and all(e.may_thank for e in entries)


def test_batch_check_total_shows_count_and_total_and_saves_nothing(app, client, staff,
                                                                    campaign_id):
    lines = [{"amount": "10"}, {"amount": "£2,500.50", "donor_name": "A. Reader"},
             {"amount": ""}, {"amount": "0.49"}]
    response = _batch(client, campaign_id, lines, action="check")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "3 lines with an amount, totalling £2,510.99" in html
    assert 'value="A. Reader"' in html and _entries(app) == []

    lines.append({"amount": "12.345"})
    response = _batch(client, campaign_id, lines, action="check")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "3 lines with an amount, totalling £2,510.99" in html
    assert "1 line whose amount can’t be read" in html
    assert "Check line 5." in html and 'href="#lines-4-amount"' in html
    assert _entries(app) == []


def _set_total(client, campaign_id, total, expected_pence, expected_count, **extra):
    return client.post(f"/staff/fund/{campaign_id}/set-total", data={
        "new_total": total, "expected_pence": str(expected_pence),
        "expected_count": str(expected_count), "received_on": london_today().isoformat(),
        **extra})


def test_set_total_records_a_correction(app, client, staff, campaign_id):
    _gift(client, campaign_id, amount="100")
    page = client.get(f"/staff/fund/{campaign_id}/set-total").get_data(as_text=True)
    assert 'name="expected_pence" type="hidden" value="10000"' in page
    response = _set_total(client, campaign_id, "£6,572", 10_000, 1, reason="Bank statement")
    assert response.status_code == 302
    entry = _entries(app)[-1]
    # what happened is in the ledger whatever the reason given
    assert (entry.amount_pence, entry.reason, entry.via) == (
        647_200, "Total set to £6,572.00 (was £100.00): Bank statement", "set-total")
    assert _campaign(app, campaign_id).raised_pence == 657_200


def test_set_total_refused_when_the_fund_changed(app, client, staff, campaign_id):
    page = client.get(f"/staff/fund/{campaign_id}/set-total")
    assert page.status_code == 200
    _gift(client, campaign_id, amount="40")  # someone else, meanwhile
    response = _set_total(client, campaign_id, "500", 0, 0)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Nothing was saved" in html and "The total is now £40.00" in html
    assert 'name="expected_pence" type="hidden" value="4000"' in html  # reloaded guard
    assert 'value="500"' in html  # what was typed is kept
    assert [e.amount_pence for e in _entries(app)] == [4000]
    assert _set_total(client, campaign_id, "500", 4000, 1).status_code == 302
    assert _campaign(app, campaign_id).raised_pence == 50_000


def test_set_total_to_zero(app, client, staff, campaign_id):
    _gift(client, campaign_id, amount="25")
    assert _set_total(client, campaign_id, "0", 2500, 1).status_code == 302
    assert [e.amount_pence for e in _entries(app)] == [2500, -2500]
    assert _campaign(app, campaign_id).raised_pence == 0
    response = _set_total(client, campaign_id, "0.00", 0, 2)  # already zero: said, not saved
    assert response.status_code == 422 and "already £0" in response.text
    assert len(_entries(app)) == 2


def test_set_total_bad_input(app, client, staff, campaign_id):
    for typed in ("abc", "", "-5", "1e3"):
        response = _set_total(client, campaign_id, typed, 0, 0)
        assert response.status_code == 422 and 'id="new_total-error"' in response.text
    response = _set_total(client, campaign_id, "5", "x", "")  # a tampered or missing guard
    assert response.status_code == 422 and "Nothing was saved" in response.text
    assert 'name="expected_pence" type="hidden" value="0"' in response.text
    assert _campaign(app, campaign_id).raised_pence == 0


def test_correction_needs_a_reason_and_may_be_negative(app, client, staff, campaign_id):
    _gift(client, campaign_id, amount="100")
    url = f"/staff/fund/{campaign_id}/corrections/new"
    data = {"amount": "-25", "received_on": london_today().isoformat(), "source": "post",
            "reason": ""}
    response = client.post(url, data=data)
    assert response.status_code == 422
    assert 'id="reason-error"' in response.text and 'value="-25"' in response.text
    response = client.post(url, data={**data, "amount": "-200", "reason": "Typo"})
    assert response.status_code == 422 and "below zero" in response.text
    response = client.post(url, data={**data, "amount": "0", "reason": "Typo"})
    assert response.status_code == 422 and 'id="amount-error"' in response.text
    response = client.post(url, data={**data, "reason": "Cheque bounced"})
    assert response.status_code == 302
    entry = _entries(app)[-1]
    assert (entry.amount_pence, entry.reason) == (-2500, "Cheque bounced")
    assert _campaign(app, campaign_id).raised_pence == 7500


def test_ledger_filters_and_shows_who_entered_what(app, client, staff, campaign_id):
    _gift(client, campaign_id, amount="10", source="post")
    _gift(client, campaign_id, amount="20", source="online",
          received_on=(london_today() - dt.timedelta(days=1)).isoformat())
    html = client.get(f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)
    assert "2 entries totalling <strong>£30.00</strong>" in html
    assert staff.name in html and "via staff" in html
    html = client.get(f"/staff/fund/{campaign_id}/ledger?source=online").get_data(as_text=True)
    assert "1 entry totalling <strong>£20.00</strong>" in html
    day = london_today().isoformat()
    html = client.get(f"/staff/fund/{campaign_id}/ledger?day={day}").get_data(as_text=True)
    assert "1 entry totalling <strong>£10.00</strong>" in html
    html = client.get(f"/staff/fund/{campaign_id}/ledger?day=rubbish&source=evil&page=x")
    assert html.status_code == 200 and "2 entries" in html.text


def test_ledger_csv_neutralises_formulas(app, client, staff, campaign_id):
    _gift(client, campaign_id, amount="10", donor_name='=HYPERLINK("http://evil")',
          donor_town="@SUM(A1)")
    client.post(f"/staff/fund/{campaign_id}/corrections/new", data={
        "amount": "-2.50", "received_on": london_today().isoformat(), "source": "other",
        "reason": "-typo fixed"})
    response = client.get(f"/staff/fund/{campaign_id}/ledger.csv")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["amount_pence"] for r in rows] == ["-250", "1000"]  # numbers stay numbers
    assert [r["amount"] for r in rows] == ["-2.50", "10.00"]  # QA: was '-2.50, text to a sum
    assert rows[0]["correction_reason"] == "'-typo fixed"
    assert rows[1]["donor_name"] == "'=HYPERLINK(\"http://evil\")"
    assert rows[1]["donor_town"] == "'@SUM(A1)"
    assert rows[1]["entered_by"] == staff.email and rows[1]["amount"] == "10.00"


def test_create_edit_and_close_campaigns(app, client, staff):
    page = client.get("/staff/fund/campaigns/new").get_data(as_text=True)
    assert "fighting fund" in page  # next month's values are suggested
    data = {"name": "Winter appeal", "slug": "winter-2026", "target": "0",
            "opens_on": "2026-12-01", "deadline": "2026-11-01", "donate_url": "",
            "thank_you_text": ""}
    response = client.post("/staff/fund/campaigns/new", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="target-error"' in html and 'id="deadline-error"' in html
    assert "deadline can’t be before the opening day" in html
    assert 'value="Winter appeal"' in html
    data.update(target="£18,000", deadline="2026-12-31", slug="Bad Slug!")
    response = client.post("/staff/fund/campaigns/new", data=data)
    assert response.status_code == 422 and 'id="slug-error"' in response.text
    data["slug"] = "winter-2026"
    response = client.post("/staff/fund/campaigns/new", data=data)
    assert response.status_code == 302
    with app.app_context():
        campaign = services.get_campaign(_db.session, "winter-2026")
        cid, target = campaign.id, campaign.target_pence
    assert target == 1_800_000
    edit = {**data, "name": "Winter appeal 2026", "target": "20,000"}
    del edit["slug"]
    response = client.post(f"/staff/fund/{cid}/edit", data=edit)
    assert response.status_code == 302
    assert _campaign(app, cid).target_pence == 2_000_000
    assert client.post(f"/staff/fund/{cid}/close", data={"confirm": "y"}).status_code == 302
    assert _campaign(app, cid).closed_at is not None


def test_next_month_in_one_click(app, client, staff, make_campaign):
    make_campaign("2026-11", name="November 2026 fighting fund", target_pence=1_750_000,
                  opens_on=dt.date(2026, 11, 1), deadline=dt.date(2026, 11, 30))
    response = client.post("/staff/fund/campaigns/next")
    assert response.status_code == 302
    with app.app_context():
        campaign = services.get_campaign(_db.session, "2026-12")
        assert campaign.name == "December 2026 fighting fund"
        assert (campaign.opens_on, campaign.deadline) == (dt.date(2026, 12, 1),
                                                          dt.date(2026, 12, 31))
        assert campaign.target_pence == 1_750_000


def test_daily_report_paragraph(app, client, staff, make_campaign):
    cid = make_campaign("2025-11", name="November 2025 fighting fund",
                        opens_on=dt.date(2025, 11, 1), deadline=dt.date(2025, 11, 30))
    with app.app_context():
        c = _db.session.get(Campaign, cid)
        for day, pence, name, town, thank in [
            (10, 616_000, None, None, False),
            (12, 20_000, "J. Smith", "Leeds", True),
            (12, 11_200, "M. Kelly", "Glasgow", True),
            (12, 10_000, "Shy Reader", "York", False),
            (13, 5_000, "Later Person", "Hull", True),
        ]:
            services.add_entry(_db.session, c, pence, received_on=dt.date(2025, 11, day),
                               source="post", donor_name=name, donor_town=town,
                               may_thank=thank)
        _db.session.commit()
    html = client.get(f"/staff/fund/{cid}/report?day=2025-11-12").get_data(as_text=True)
    expected = ("£412 came in yesterday, bringing November’s total to £6,572. £11,428 to go "
                "with 17 days left. Thanks to M. Kelly of Glasgow and J. Smith of Leeds.")
    assert expected.replace("’", "'").replace("'", "&#39;") in html or expected in html
    assert "Shy Reader" not in html and "Later Person" not in html
    assert "For the paper of Thursday 13 November 2025" in html


def test_daily_report_text_variants(db, make_campaign):
    cid = make_campaign("2025-11", opens_on=dt.date(2025, 11, 1), deadline=dt.date(2025, 11, 30),
                        target_pence=10_000)
    c = db.session.get(Campaign, cid)
    assert services.daily_report(db.session, c, dt.date(2025, 11, 5)) == (
        "Nothing came in yesterday: November's total stands at £0. £100 to go with 24 days "
        "left.")
    assert services.daily_report(db.session, c, dt.date(2025, 11, 28)).endswith(
        "£100 to go with one day left.")
    assert services.daily_report(db.session, c, dt.date(2025, 11, 29)).endswith(
        "£100 to go, and today is the last day.")
    assert services.daily_report(db.session, c, dt.date(2025, 11, 30)).endswith(
        "The fund closed £100 short of its target.")
    services.add_entry(db.session, c, 12_550, received_on=dt.date(2025, 11, 28), source="post")
    assert services.daily_report(db.session, c, dt.date(2025, 11, 28)) == (
        "£125.50 came in yesterday, bringing November's total to £125.50. That's our £100 "
        "target reached, with £25.50 to spare.")
    assert services.daily_report(db.session, c, dt.date(2025, 11, 29)).endswith(
        "That's our £100 target reached, with £25.50 to spare.")


def test_daily_report_tells_corrections_from_gifts_with_their_sign(db, make_campaign):
    """QA: £110 of gifts and a −£500 correction on one day printed "After a correction of
    £390 yesterday". Each is named, and a correction keeps its sign."""
    cid = make_campaign("2025-11", opens_on=dt.date(2025, 11, 1), deadline=dt.date(2025, 11, 30),
                        target_pence=100_000)
    c = db.session.get(Campaign, cid)
    services.add_entry(db.session, c, 60_000, received_on=dt.date(2025, 11, 2), source="post")
    services.add_entry(db.session, c, 11_000, received_on=dt.date(2025, 11, 3), source="post")
    services.add_entry(db.session, c, -50_000, received_on=dt.date(2025, 11, 3), source="post",
                       reason="Cheque entered twice")
    assert services.daily_report(db.session, c, dt.date(2025, 11, 3)).startswith(
        "£110 came in yesterday and a correction took £500 off, bringing November's total to "
        "£210.")
    services.add_entry(db.session, c, -1_000, received_on=dt.date(2025, 11, 4), source="post",
                       reason="Typo")
    assert services.daily_report(db.session, c, dt.date(2025, 11, 4)).startswith(
        "Yesterday a correction took £10 off: November's total stands at £200.")
    services.add_entry(db.session, c, 2_500, received_on=dt.date(2025, 11, 5), source="post",
                       reason="A gift missed")
    assert services.daily_report(db.session, c, dt.date(2025, 11, 5)).startswith(
        "Yesterday a correction added £25: November's total stands at £225.")
    for pence in (-300, -200):
        services.add_entry(db.session, c, pence, received_on=dt.date(2025, 11, 6),
                           source="post", reason="Bounced")
    assert services.daily_report(db.session, c, dt.date(2025, 11, 6)).startswith(
        "Yesterday corrections took £5 off: November's total stands at £220.")


def test_verify_page_and_cli(app, client, staff, campaign_id, runner):
    _gift(client, campaign_id, amount="10")
    assert "agree with the ledger to the penny" in client.get("/staff/fund/verify").text
    result = runner.invoke(args=["fund-verify"])
    assert result.exit_code == 0 and "OK: 1 campaign agrees" not in result.output
    assert "OK: 1 campaign agree with the ledger." in result.output
    with app.app_context():
        _db.session.execute(sa.update(Campaign).values(raised_pence=1001))
        _db.session.commit()
    html = client.get("/staff/fund/verify").text
    assert "1 of 1 campaign differ from the ledger" in html and "£0.01" in html
    result = runner.invoke(args=["fund-verify"])
    assert result.exit_code == 1
    assert "running total £10.01 (1 entries) but the ledger sums to £10.00" in result.output


def test_staff_dashboard_links(client, staff, campaign_id):
    html = client.get("/staff").get_data(as_text=True)
    assert 'href="/staff/fund"' in html and 'href="/staff/fund/verify"' in html
    html = client.get("/staff/fund").get_data(as_text=True)
    assert "Campaign this-month" in html
    html = client.get(f"/staff/fund/{campaign_id}").get_data(as_text=True)
    assert "Latest entries" in html and "/fund/this-month" in html


def test_ledger_rows_start_a_correction_or_a_gift_like_them(app, client, staff, campaign_id):
    assert _gift(client, campaign_id, amount="12.50", source="standing_order",
                 donor_name="J. Smith", donor_town="Leeds", may_thank="y").status_code == 302
    [entry] = _entries(app)
    ledger = client.get(f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)
    correct = f"/staff/fund/{campaign_id}/corrections/new?entry={entry.id}"
    like = f"/staff/fund/{campaign_id}/gifts/new?entry={entry.id}"
    assert f'href="{correct}"' in ledger and f'href="{like}"' in ledger

    html = client.get(correct).get_data(as_text=True)
    assert 'value="-12.50"' in html and f'name="corrects" type="hidden" value="{entry.id}"' in html
    assert re.search(r'<input[^>]*id="reason"[^>]*value=""', html)  # the reason is staff's own
    assert '<option selected value="standing_order">' in html
    html = client.get(like).get_data(as_text=True)
    assert 'value="J. Smith"' in html and 'value="Leeds"' in html
    assert '<option selected value="standing_order">' in html
    amount = re.search(r'<input[^>]*id="amount"[^>]*>', html).group(0)
    assert 'value=""' in amount  # the amount is the new gift's own
    assert re.search(r'<input[^>]*checked[^>]*id="may_thank"', html)

    # a correction starts nothing "like this"; an entry of another campaign is ignored
    assert client.post(correct.split("?")[0], data={
        "amount": "-12.50", "received_on": london_today().isoformat(),
        "source": "standing_order", "reason": "Bounced"}).status_code == 302
    ledger = client.get(f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)
    correction = _entries(app)[-1]
    assert f"gifts/new?entry={correction.id}" not in ledger
    assert f"corrections/new?entry={correction.id}" in ledger
    html = client.get(f"/staff/fund/{campaign_id + 1000}/gifts/new?entry={entry.id}")
    assert html.status_code == 404


def test_a_set_totals_reason_fits_beside_what_happened(app, client, staff, campaign_id):
    """The ledger line is "Total set to X (was Y): <reason>": a reason too long for that is
    refused at its box, never cut short."""
    response = _set_total(client, campaign_id, "50", 0, 0, reason="x" * 480)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error_at = html.index('id="reason-error"')
    assert "The reason can be at most" in html[error_at:error_at + 200]
    assert _entries(app) == []
    reason = "Bank statement " * 20
    assert _set_total(client, campaign_id, "50", 0, 0, reason=reason).status_code == 302
    assert _entries(app)[-1].reason.endswith(reason.strip())


def test_a_correction_names_the_line_it_corrects_and_a_second_is_warned(
        app, client, staff, campaign_id):
    """QA: "Correct" pre-filled a reason that passed sent unchanged, and offered the same
    reversal again after a gift had been reversed, with nothing on the ledger line to say so."""
    _gift(client, campaign_id, amount="1000", source="post", donor_name="A. Giver")
    [gift] = _entries(app)
    correct = f"/staff/fund/{campaign_id}/corrections/new?entry={gift.id}"
    html = client.get(correct).get_data(as_text=True)
    assert "Correcting" in html and f"entry {gift.id}</a>: £1,000.00 received" in html
    key = re.search(r'name="submission"[^>]*value="([^"]+)"', html).group(1)
    data = {"amount": "-1000", "received_on": london_today().isoformat(), "source": "post",
            "corrects": str(gift.id), "submission": key}
    response = client.post(correct.split("?")[0], data={**data, "reason": ""})
    assert response.status_code == 422 and "Give a reason for the correction." in response.text
    assert "Correcting" in response.text  # the line being corrected is still named
    assert client.post(correct.split("?")[0],
                       data={**data, "reason": "Cheque bounced"}).status_code == 302
    reversal = _entries(app)[-1]
    assert reversal.corrects_id == gift.id and reversal.amount_pence == -100_000

    ledger = client.get(f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)
    assert f"Corrected by <a href=\"/staff/fund/entries/{reversal.id}\">entry {reversal.id}</a>" \
        in ledger and "(-£1,000.00)" in ledger
    assert f'(corrects <a href="/staff/fund/entries/{gift.id}">entry {gift.id}</a>)' in ledger

    html = client.get(correct).get_data(as_text=True)
    assert "It has been corrected before" in html and "Nothing of it is left to reverse" in html
    amount = re.search(r'<input[^>]*id="amount"[^>]*>', html).group(0)
    assert 'value=""' in amount  # no second reversal offered

    # a line of another campaign, or nonsense, names nothing
    for other in ("999999", "x", "99999999999999", "-1"):
        fresh = re.search(r'name="submission"[^>]*value="([^"]+)"',
                          client.get(correct).text).group(1)
        assert client.post(correct.split("?")[0], data={
            **data, "amount": "1", "reason": "Found a pound", "corrects": other,
            "submission": fresh}).status_code == 302
        assert _entries(app)[-1].corrects_id is None
    with app.app_context():
        from coop.audit import AuditEvent

        details = _db.session.scalars(sa.select(AuditEvent.details).where(
            AuditEvent.action == "fund.correction")).all()
    assert details[0]["corrects"] == gift.id


def test_a_ledger_link_with_a_huge_entry_id_starts_a_blank_form(client, staff, campaign_id):
    """On PostgreSQL ``?entry=99999999999`` reached the database: "integer out of range", a 500."""
    for form in ("corrections", "gifts"):
        assert client.get(f"/staff/fund/{campaign_id}/{form}/new?entry=99999999999",
                          ).status_code == 200


def _correction_form(client, url: str) -> dict:
    html = client.get(url).get_data(as_text=True)
    return {name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)
            for name in ("submission", "corrects", "corrections_seen")}


def test_two_staff_correcting_the_same_gift_reverse_it_once(app, client, staff, campaign_id):
    """Review: "Correct" opened in two tabs, both sent: the £50 gift was reversed twice."""
    _gift(client, campaign_id, amount="50", source="post")
    _gift(client, campaign_id, amount="500", source="post")
    gift = _entries(app)[0]
    url = f"/staff/fund/{campaign_id}/corrections/new?entry={gift.id}"
    tab_a, tab_b = _correction_form(client, url), _correction_form(client, url)
    typed = {"amount": "-50", "received_on": london_today().isoformat(), "source": "post",
             "reason": "Cheque bounced"}
    assert client.post(url.split("?")[0], data={**typed, **tab_a}).status_code == 302
    second = client.post(url.split("?")[0], data={**typed, **tab_b})
    assert second.status_code == 422
    assert f"Entry {gift.id} was corrected by someone else while you had this page open" in \
        html.unescape(second.get_data(as_text=True))
    with app.app_context():
        assert _db.session.get(Campaign, campaign_id).raised_pence == 50_000
    # drawn again as it is now: sent again on purpose, it goes through
    again = re.search(r'name="corrections_seen"[^>]*value="([^"]*)"', second.text).group(1)
    assert client.post(url.split("?")[0], data={**typed, **tab_b, "corrections_seen": again,
                                                "amount": "1"}).status_code == 302


def test_a_reversal_undone_counts_the_gift_again(app, client, staff, campaign_id):
    """Review: with a gift's reversal itself reversed, the gift's page said "nothing left to
    reverse" though it counted in full."""
    _gift(client, campaign_id, amount="50", source="post")
    gift = _entries(app)[0]
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        entry = _db.session.get(Entry, gift.id)
        reversal = services.add_correction(_db.session, campaign, -5000, reason="Bounced",
                                           received_on=gift.received_on, corrects=entry)
        services.add_correction(_db.session, campaign, 5000, reason="It cleared after all",
                                received_on=gift.received_on, corrects=reversal)
        _db.session.commit()
    page = client.get(f"/staff/fund/{campaign_id}/corrections/new?entry={gift.id}").text
    assert "so it now counts for £50.00" in page and "Nothing of it is left" not in page
    assert re.search(r'<input[^>]*id="amount"[^>]*value="-50"', page)


def test_a_gift_reversed_in_full_is_no_longer_thanked(app, client, staff, campaign_id):
    """A bounced cheque: once "Correct" has taken the whole gift back, its donor is not thanked
    for it (as a refund through Stripe); a part correction leaves the thanks alone."""
    _gift(client, campaign_id, amount="30", source="post", donor_name="B. Bounced",
          donor_town="Hull", may_thank="y")
    [gift] = _entries(app)
    assert "B. Bounced" in client.get("/fund").text
    url = f"/staff/fund/{campaign_id}/corrections/new?entry={gift.id}"
    for amount in ("-10", "-20"):
        form = _correction_form(client, url)
        assert client.post(url.split("?")[0], data={
            **form, "amount": amount, "received_on": london_today().isoformat(),
            "source": "post", "reason": "Cheque bounced"}).status_code == 302
        with app.app_context():
            check = _db.session.get(Entry, gift.id).thanks_check
        assert check == (None if amount == "-10" else "declined"), amount
    assert "B. Bounced" not in client.get("/fund").text


def _send_correction(client, url: str, amount: str, reason: str = "Cheque bounced"):
    """"Correct" on a ledger line (``url`` with ``?entry=``) sent as drawn, with ``amount``."""
    return client.post(url.split("?")[0], data={
        "received_on": london_today().isoformat(), "source": "post", "reason": reason,
        **_correction_form(client, url), "amount": amount})


def test_a_correction_cant_take_a_gift_past_nothing(app, client, staff, campaign_id):
    """QA: "Correct" on a £25 gift took −£30 (and the ledger said the gift counted for −£5).
    What is left of it can be taken back, in one go or in parts; a reversal can be undone, not
    turned into a gift."""
    _gift(client, campaign_id, amount="25", source="post")
    _gift(client, campaign_id, amount="500", source="post")
    gift = _entries(app)[0]
    url = f"/staff/fund/{campaign_id}/corrections/new?entry={gift.id}"
    refused = _send_correction(client, url, "-30")
    assert refused.status_code == 422
    page = html.unescape(refused.get_data(as_text=True))
    assert (f"Entry {gift.id} counts for £25 now: a correction of it can take back at "
            "most £25.") in page
    assert 'value="-30"' in page  # what was typed is kept
    with app.app_context():
        assert _db.session.get(Campaign, campaign_id).raised_pence == 52_500
    for amount in ("-10", "-16", "-15"):
        response = _send_correction(client, url, amount)
        if amount == "-16":
            assert response.status_code == 422 and (
                "counts for £15 now: a correction of it can take back at most £15"
                in html.unescape(response.text))
        else:
            assert response.status_code == 302, amount
    with app.app_context():
        assert _db.session.get(Campaign, campaign_id).raised_pence == 50_000
    reversal = _entries(app)[-1]
    undo = f"/staff/fund/{campaign_id}/corrections/new?entry={reversal.id}"
    over = _send_correction(client, undo, "20", "It cleared")
    assert over.status_code == 422 and "can put back at most £15." in html.unescape(over.text)
    assert _send_correction(client, undo, "15", "It cleared").status_code == 302


def test_a_line_already_past_nothing_can_be_brought_back_towards_it(app, client, staff,
                                                                     campaign_id):
    """Review: Stripe's refunds may take a gift past nothing (a staff reversal, then the
    refund); staff putting part of it back were refused, with a message wrong both ways."""
    _gift(client, campaign_id, amount="25", source="post")
    _gift(client, campaign_id, amount="500", source="post")
    gift = _entries(app)[0]
    with app.app_context():  # as Stripe's refunds record it: past the gift, by £5
        campaign = _db.session.get(Campaign, campaign_id)
        services.add_correction(_db.session, campaign, -3000, reason="Refunded",
                                received_on=gift.received_on,
                                corrects=_db.session.get(Entry, gift.id))
        _db.session.commit()
    url = f"/staff/fund/{campaign_id}/corrections/new?entry={gift.id}"
    further = _send_correction(client, url, "-1", "Refund counted twice")
    assert further.status_code == 422
    assert (f"Entry {gift.id} counts for -£5 now: nothing of it is left to take back."
            in html.unescape(further.text).replace("\u2212", "-"))
    assert _send_correction(client, url, "3", "Refund counted twice").status_code == 302

