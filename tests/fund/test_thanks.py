"""Stopping a donor's thanks: a donor who asks not to be named any more, or a name shown by
mistake. The gift stays; the name leaves every public list."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from coop.audit import AuditEvent
from coop.extensions import db as _db
from coop.fund import services
from coop.fund.models import Campaign, Entry
from tests.fund.conftest import london_today


def _add(app, campaign_id, name, town="Leeds", **extra) -> int:
    extra.setdefault("received_on", london_today())
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        entry = services.add_entry(_db.session, campaign, 500, source="post", donor_name=name,
                                   donor_town=town, may_thank=True, **extra)
        _db.session.commit()
        return entry.id


def _fund_page(app) -> str:
    return app.test_client().get("/fund").get_data(as_text=True)


def _stop(client, entry_id, back=""):
    return client.post(f"/staff/fund/names/{entry_id}/withdraw", data={"back": back})


def test_staff_stop_thanking_a_donor_and_the_name_leaves_the_fund_page(app, client,
                                                                        campaign_id, login_as):
    first = _add(app, campaign_id, "Ann Lee")
    _add(app, campaign_id, "Bob Crow", town="London")
    assert "Ann Lee of Leeds" in _fund_page(app)  # built and kept before the change
    login_as("staff")
    ledger = client.get(f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)
    assert ledger.count(">Stop thanking<") == 2 and "thanked by name" in ledger

    back = f"/staff/fund/{campaign_id}/ledger?source=post"
    response = _stop(client, first, back=back)
    assert response.status_code == 302 and response.headers["Location"] == back + "#messages"
    page = client.get(back).get_data(as_text=True)
    assert f"Gift {first} no longer thanks “Ann Lee of Leeds” in public." in page
    assert "asked to be thanked: name not printed" in page
    public = _fund_page(app)
    assert "Ann Lee" not in public and "Bob Crow of London" in public
    with app.app_context():
        assert services.thanked_donors(_db.session, campaign_id) == ["Bob Crow of London"]
        assert _db.session.get(Campaign, campaign_id).raised_pence == 1000  # the gift stays
        audit = _db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.action == "fund.thanks_withdrawn"))
        assert audit.subject_id == str(first) and "Ann" not in str(audit.details)

    # again (a resent form): nothing to stop, said so
    _stop(client, first)
    assert "isn’t thanked by name, so there was nothing to stop" in client.get(
        f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)


def test_stopping_one_gift_says_how_many_more_thank_the_same_name(app, client, campaign_id,
                                                                   login_as):
    first = _add(app, campaign_id, "Ann Lee")
    _add(app, campaign_id, "Ann Lee")
    _add(app, campaign_id, "Ann Lee", town="York")  # another Ann Lee
    login_as("staff")
    _stop(client, first)
    page = client.get(f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)
    assert ("One other gift to this campaign still thanks “Ann Lee of Leeds”: stop it too to "
            "take the name off the list.") in page
    assert "Ann Lee of Leeds" in _fund_page(app)


def test_a_name_waiting_or_unthanked_has_nothing_to_stop_and_strangers_cant(
        app, client, campaign_id, login_as):
    waiting = _add(app, campaign_id, "Typed Online", name_to_check=True)
    login_as("staff")
    assert ">Stop thanking<" not in client.get(
        f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)
    _stop(client, waiting)
    with app.app_context():
        assert _db.session.get(Entry, waiting).thanks_check == "waiting"
    # a back address that leaves the campaign's pages is not followed
    shown = _add(app, campaign_id, "Ann Lee")
    for back in ("//evil.example/x", "https://evil.example/", "/staff/admin", "/\\evil"):
        response = _stop(client, shown, back=back)
        assert response.headers["Location"] == (
            f"/staff/fund/{campaign_id}/ledger#messages"), back
    assert _stop(client, 999_999).status_code == 404
    client.post("/logout")
    login_as("member")
    other = _add(app, campaign_id, "Bob Crow")
    assert _stop(client, other).status_code == 403
    with app.app_context():
        assert _db.session.get(Entry, other).thanks_check is None


def _report(app, campaign_id, day) -> str:
    with app.app_context():
        return services.daily_report(_db.session, _db.session.get(Campaign, campaign_id), day)


def _shown_at(app, entry_id, when: dt.datetime) -> None:
    with app.app_context():
        services.decide_thanks(_db.session, entry_id, show=True)
        _db.session.get(Entry, entry_id).thanks_shown_at = when
        _db.session.commit()


def test_a_name_shown_after_its_day_is_thanked_in_the_paragraph_for_the_day_it_was_shown(
        app, campaign_id):
    """The paragraph for a day is drafted the morning after: a name checked later would
    otherwise never reach the paper (review)."""
    today = london_today()
    yesterday = today - dt.timedelta(days=1)
    late = _add(app, campaign_id, "Late Check", received_on=yesterday, name_to_check=True)
    prompt = _add(app, campaign_id, "Prompt Check", received_on=yesterday, name_to_check=True)
    typed = _add(app, campaign_id, "Typed By Staff", received_on=yesterday)
    assert "Late Check" not in _report(app, campaign_id, yesterday)  # still waiting
    from coop.timeutil import london_midnight
    _shown_at(app, prompt, london_midnight(today) - dt.timedelta(minutes=5))  # yesterday
    _shown_at(app, late, london_midnight(today) + dt.timedelta(hours=9))  # this morning
    before = _report(app, campaign_id, yesterday)
    assert "Prompt Check" in before and "Typed By Staff" in before
    assert "Late Check" not in before
    assert "Late Check" in _report(app, campaign_id, today)  # once, on the day it was shown
    assert "Prompt Check" not in _report(app, campaign_id, today)
    assert "Typed By Staff" not in _report(app, campaign_id, today)
    assert typed


def test_gift_like_this_ticks_thanks_only_for_a_name_already_thanked(app, client, campaign_id,
                                                                     login_as):
    declined = _add(app, campaign_id, "Somebody Rude", name_to_check=True)
    waiting = _add(app, campaign_id, "Not Read Yet", name_to_check=True)
    thanked = _add(app, campaign_id, "Ann Lee")
    login_as("staff")
    client.post(f"/staff/fund/names/{declined}", data={"decision": "decline"})
    url = f"/staff/fund/{campaign_id}/gifts/new?entry="
    for entry_id, note in ((declined, "is not printed"), (waiting, "still waiting")):
        form = client.get(url + str(entry_id)).get_data(as_text=True)
        assert "<input checked" not in form and note in form, entry_id
    form = client.get(url + str(thanked)).get_data(as_text=True)
    assert '<input checked id="may_thank"' in form and "unchecked-note" not in form


def test_an_entry_keeps_its_repr(app):
    with app.app_context():
        assert repr(Entry(id=1, amount_pence=500, source="post")) == "<Entry 1 500 post>"


def test_thank_by_name_again_undoes_a_decline_or_a_stop(app, client, campaign_id, login_as):
    declined = _add(app, campaign_id, "Mis Clicked", name_to_check=True)
    stopped = _add(app, campaign_id, "Changed Mind")
    login_as("staff")
    response = client.post(f"/staff/fund/names/{declined}", data={"decision": "decline"})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "“Thank by name again” on its ledger line undoes this." in page
    _stop(client, stopped)
    assert "Mis Clicked" not in _fund_page(app) and "Changed Mind" not in _fund_page(app)
    ledger = client.get(f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)
    assert ledger.count(">Thank by name again<") == 2

    for entry_id in (declined, stopped):
        response = client.post(f"/staff/fund/names/{entry_id}/again", data={"back": ""})
        assert response.headers["Location"] == f"/staff/fund/{campaign_id}/ledger#messages"
    page = client.get(f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)
    assert f"Gift {stopped} thanks “Changed Mind of Leeds” in public again." in page
    public = _fund_page(app)
    assert "Mis Clicked of Leeds" in public and "Changed Mind of Leeds" in public
    with app.app_context():
        assert [_db.session.get(Entry, i).thanks_check for i in (declined, stopped)] == [
            "shown", "shown"]
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "fund.thanks_restored")) == 2
    # again: nothing declined to undo, said so
    client.post(f"/staff/fund/names/{declined}/again")
    assert "isn’t declined, so there was nothing to undo" in client.get(
        f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)


def test_declining_a_name_another_gift_thanks_says_so(app, client, campaign_id, login_as):
    _add(app, campaign_id, "J. Smith")  # typed by staff: thanked
    waiting = _add(app, campaign_id, "J. Smith", name_to_check=True)
    login_as("staff")
    listed = client.get("/staff/fund").get_data(as_text=True)
    assert "already thanked for one other gift" in listed
    assert "Thank by name<span class=\"visually-hidden\"> (J. Smith of Leeds)" in listed
    response = client.post(f"/staff/fund/names/{waiting}", data={"decision": "decline"})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert ("It is still thanked for one other gift staff entered or showed before: "
            "“Stop thanking” on the ledger takes it off.") in page


def test_an_entry_link_opens_the_ledger_page_that_holds_it(app, client, campaign_id,
                                                          login_as):
    first = _add(app, campaign_id, "Early Bird", name_to_check=True)
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        for _ in range(105):
            services.add_entry(_db.session, campaign, 100, received_on=london_today(),
                               source="post")
        _db.session.commit()
    login_as("staff")
    assert f'href="/staff/fund/entries/{first}"' in client.get("/staff/fund").get_data(
        as_text=True)
    response = client.get(f"/staff/fund/entries/{first}")
    assert response.headers["Location"] == (
        f"/staff/fund/{campaign_id}/ledger?page=2#entry-{first}")
    assert f'id="entry-{first}"' in client.get(response.headers["Location"]).get_data(
        as_text=True)
    newest = client.get(f"/staff/fund/entries/{first + 105}")
    assert newest.headers["Location"] == f"/staff/fund/{campaign_id}/ledger#entry-{first + 105}"
    assert client.get("/staff/fund/entries/999999").status_code == 404


@pytest.mark.parametrize("back", ["/staff/fund/{cid}0/ledger",
                                  "/staff/fund/{cid}/../../../admin/users",
                                  "/staff/fund/{cid}/%2E%2E/%2E%2E/%2E%2E/account",
                                  "/staff/fund/{cid}/ledger/../../../x"])
def test_back_stays_on_this_campaigns_pages(app, client, campaign_id, login_as, back):
    """Review: a prefix check let "/staff/fund/10" and "/staff/fund/1/../.." through."""
    entry = _add(app, campaign_id, "Ann Lee")
    login_as("staff")
    response = _stop(client, entry, back=back.format(cid=campaign_id))
    assert response.headers["Location"] == f"/staff/fund/{campaign_id}/ledger#messages"


def test_undoing_a_mistaken_stop_keeps_the_name_in_the_paragraph_it_was_in(app, campaign_id):
    """Review: a stop and its undo moved a name printed yesterday into today's paragraph."""
    yesterday = london_today() - dt.timedelta(days=1)
    typed = _add(app, campaign_id, "Ann Lee", received_on=yesterday)
    checked = _add(app, campaign_id, "Bob Crow", received_on=yesterday, name_to_check=True)
    with app.app_context():
        services.decide_thanks(_db.session, checked, show=True)
        _db.session.commit()
    assert "Bob Crow of Leeds" in _report(app, campaign_id, london_today())  # shown today
    with app.app_context():
        for entry_id in (typed, checked):
            services.withdraw_thanks(_db.session, entry_id)
            services.thank_again(_db.session, entry_id)
        _db.session.commit()
        assert services.thanked_donors(_db.session, campaign_id, day=yesterday) == [
            "Ann Lee of Leeds"]  # typed by staff: the day it came in, still
        assert services.thanked_donors(_db.session, campaign_id, day=london_today()) == [
            "Bob Crow of Leeds"]  # first shown today: today, still
