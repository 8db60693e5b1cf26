"""Every irreversible action is a danger-styled button with a box to tick beside it: the page
shows both (the box ``required``), a POST without the tick changes nothing and says why, and a
ticked one does the thing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from coop.accounts.models import User
from coop.api import services as api
from coop.api.models import ApiToken
from coop.db import now_utc
from coop.events import services as events
from coop.events.models import Event, Registration
from coop.extensions import db as _db
from coop.fund import services as fund
from coop.fund.models import Campaign
from coop.notices import services as notices
from coop.notices.models import Notice
from coop.shares import services as shares
from coop.shares.models import Enquiry
from coop.timeutil import london_today
from tests.accounts.test_two_factor import enable
from tests.conftest import PASSWORD

REFUSED = "Nothing was done:"


def _danger_form(html: str, action: str) -> str:
    """The form posting to ``action``: it has a required tick box and a danger button."""
    found = re.search(rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>',
                      html, re.S)
    assert found, f"no form posting to {action}"
    form = found.group(1)
    assert re.search(r'<input type="checkbox" name="confirm" value="y" id="[^"]+" required>',
                     form), form
    assert re.search(r'<button type="submit" class="danger">', form), form
    return form


def _refused(client, action: str, page: str) -> None:
    response = client.post(action, data={})
    assert response.status_code == 302 and response.headers["Location"] == page
    html = client.get(page).get_data(as_text=True)
    assert REFUSED in html and "needs the box beside the button ticked" in html


@pytest.fixture
def staff(login_as):
    return login_as("staff")


def _event(app, capacity=None):
    soon = events.london_to_utc(london_today() + dt.timedelta(days=5), dt.time(19))
    with app.app_context():
        event = events.create_event(
            _db.session, events.EventDetails(title="Readers' meeting", status="published",
                                             capacity=capacity),
            soon, soon + dt.timedelta(hours=2))
        _db.session.commit()
        return event.id, event.slug


def test_cancel_an_event(app, client, staff):
    event_id, _slug = _event(app)
    page = f"/staff/events/{event_id}"
    action = f"/staff/events/{event_id}/cancel"
    _danger_form(client.get(page).get_data(as_text=True), action)
    _refused(client, action, page)
    with app.app_context():
        assert not _db.session.get(Event, event_id).is_cancelled
    assert client.post(action, data={"confirm": "y"}).status_code == 302
    with app.app_context():
        assert _db.session.get(Event, event_id).is_cancelled


def test_staff_cancel_a_registration(app, client, staff):
    event_id, slug = _event(app)
    reader = app.test_client()
    assert reader.post(f"/events/{slug}/register",
                       data={"name": "Jo Reader", "email": "jo@example.org"}).status_code == 302
    with app.app_context():
        reg_id = _db.session.scalar(sa.select(Registration.id))
    page = f"/staff/events/{event_id}"
    action = f"/staff/events/{event_id}/registrations/{reg_id}/cancel"
    form = _danger_form(client.get(page).get_data(as_text=True), action)
    assert "Jo Reader" in form  # screen readers hear whose place it is
    _refused(client, action, page)
    with app.app_context():
        assert _db.session.get(Registration, reg_id).status == "registered"
    assert client.post(action, data={"confirm": "y"}).status_code == 302
    with app.app_context():
        assert _db.session.get(Registration, reg_id).status == "cancelled"


def test_erase_personal_data(app, client, staff):
    with app.app_context():
        contact = shares.Contact(name="Ada Lovelace", email="ada@example.org",
                                 address="1 Fleet Street", postcode="EC4Y 1AA", country="GB")
        enquiry = shares.submit(_db.session, "shares", contact, 10_000, max_pence=None,
                                payment_method="cheque")
        _db.session.commit()
        enquiry_id = enquiry.id
    action = f"/staff/enquiries/{enquiry_id}/erase"
    page = client.get(f"/staff/enquiries/{enquiry_id}").get_data(as_text=True)
    assert re.search(rf'action="{action}#errors".*?<input[^>]*id="confirm"[^>]*required', page,
                     re.S)
    assert '<button type="submit" class="danger">Erase personal data</button>' in page
    response = client.post(action, data={})
    assert response.status_code == 422 and "Tick the box to confirm." in response.text
    with app.app_context():
        assert _db.session.get(Enquiry, enquiry_id).erased_at is None
    assert client.post(action, data={"confirm": "y"}).status_code == 302
    with app.app_context():
        assert _db.session.get(Enquiry, enquiry_id).erased_at is not None


def test_delete_my_account(app, client, login_as):
    member = login_as("member")
    page = client.get("/account").get_data(as_text=True)
    assert re.search(r'<input[^>]*class="danger"[^>]*value="Delete my account"', page)
    response = client.post("/account/delete", data={"delete_password": PASSWORD})
    assert response.status_code == 422 and "Tick the box to confirm." in response.text
    with app.app_context():
        assert _db.session.get(User, member.id) is not None


def test_revoke_an_api_token(app, client, login_as):
    login_as("admin")
    with app.app_context():
        token, _secret = api.create_token(_db.session, "Website")
        _db.session.commit()
        token_id = token.id
    page, action = "/admin/api-tokens", f"/admin/api-tokens/{token_id}/revoke"
    _danger_form(client.get(page).get_data(as_text=True), action)
    _refused(client, action, page)
    with app.app_context():
        assert _db.session.get(ApiToken, token_id).revoked_at is None
    assert client.post(action, data={"confirm": "y"}).status_code == 302
    with app.app_context():
        assert _db.session.get(ApiToken, token_id).revoked_at is not None


def test_reset_someones_two_step_verification(app, client, login_as, make_user):
    user = make_user("member")
    enable(app, user)
    login_as("admin")
    page, action = "/admin/users", f"/admin/users/{user.id}/two-factor/reset"
    _danger_form(client.get(page).get_data(as_text=True), action)
    _refused(client, action, page)
    with app.app_context():
        assert _db.session.get(User, user.id).two_factor_enabled
    assert client.post(action, data={"confirm": "y"}).status_code == 302
    with app.app_context():
        assert not _db.session.get(User, user.id).two_factor_enabled


def test_delete_a_notice(app, client, staff):
    with app.app_context():
        notice = notices.create(_db.session, notices.NoticeData(
            text="Printers' strike on Friday", level="info", link_url="", link_text="",
            starts_at=now_utc() + dt.timedelta(days=2), ends_at=None), by=None)
        _db.session.commit()
        notice_id = notice.id
    page, action = "/staff/notices", f"/staff/notices/{notice_id}/delete"
    _danger_form(client.get(page).get_data(as_text=True), action)
    _refused(client, action, page)
    with app.app_context():
        assert _db.session.get(Notice, notice_id) is not None
    assert client.post(action, data={"confirm": "y"}).status_code == 302
    with app.app_context():
        assert _db.session.get(Notice, notice_id) is None


def test_close_a_campaign(app, client, staff):
    today = london_today()
    with app.app_context():
        campaign = fund.create_campaign(
            _db.session, name="December 2026 fighting fund", slug="december",
            target_pence=1_800_000, opens_on=today - dt.timedelta(days=3),
            deadline=today + dt.timedelta(days=20), donate_url="")
        _db.session.commit()
        campaign_id = campaign.id
    page, action = f"/staff/fund/{campaign_id}", f"/staff/fund/{campaign_id}/close"
    _danger_form(client.get(page).get_data(as_text=True), action)
    _refused(client, action, page)
    with app.app_context():
        assert _db.session.get(Campaign, campaign_id).closed_at is None
    assert client.post(action, data={"confirm": "y"}).status_code == 302
    with app.app_context():
        assert _db.session.get(Campaign, campaign_id).closed_at is not None


def test_delete_a_campaign_made_by_mistake(app, client, staff):
    """Only before it opens and with an empty ledger; one that has opened is closed instead."""
    today = london_today()
    with app.app_context():
        mistake = fund.create_campaign(
            _db.session, name="A second December", slug="december-again",
            target_pence=1_800_000, opens_on=today + dt.timedelta(days=40),
            deadline=today + dt.timedelta(days=60))
        running = fund.create_campaign(
            _db.session, name="December 2026 fighting fund", slug="december",
            target_pence=1_800_000, opens_on=today - dt.timedelta(days=3),
            deadline=today + dt.timedelta(days=20))
        _db.session.commit()
        mistake_id, running_id = mistake.id, running.id
    page, action = f"/staff/fund/{mistake_id}", f"/staff/fund/{mistake_id}/delete"
    _danger_form(client.get(page).get_data(as_text=True), action)
    _refused(client, action, page)
    assert client.post(action, data={"confirm": "y"}).status_code == 302
    with app.app_context():
        assert _db.session.get(Campaign, mistake_id) is None
        from coop.audit import AuditEvent

        entry = _db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.action == "fund.campaign_deleted"))
        assert entry.details["name"] == "A second December"
    # one that has opened: no button, and a post is refused with the reason
    assert f"/staff/fund/{running_id}/delete" not in client.get(
        f"/staff/fund/{running_id}").get_data(as_text=True)
    refused = client.post(f"/staff/fund/{running_id}/delete", data={"confirm": "y"},
                          follow_redirects=True)
    assert "close this one instead" in refused.get_data(as_text=True)
    with app.app_context():
        assert _db.session.get(Campaign, running_id) is not None


def test_delete_a_draft_event_never_published(app, client, staff):
    soon = events.london_to_utc(london_today() + dt.timedelta(days=5), dt.time(19))
    with app.app_context():
        draft = events.create_event(
            _db.session, events.EventDetails(title="Typo draft", status="draft"), soon,
            soon + dt.timedelta(hours=2))
        _db.session.commit()
        draft_id = draft.id
    page, action = f"/staff/events/{draft_id}", f"/staff/events/{draft_id}/delete"
    html = client.get(page).get_data(as_text=True)
    _danger_form(html, action)
    assert "Cancel this event" not in html
    _refused(client, action, page)
    assert client.post(action, data={"confirm": "y"}).status_code == 302
    with app.app_context():
        assert _db.session.get(Event, draft_id) is None
    # a published one is cancelled, never deleted
    published_id, _slug = _event(app)
    assert f"/staff/events/{published_id}/delete" not in client.get(
        f"/staff/events/{published_id}").get_data(as_text=True)
    refused = client.post(f"/staff/events/{published_id}/delete", data={"confirm": "y"},
                          follow_redirects=True)
    assert "cancel it instead" in refused.get_data(as_text=True)
    with app.app_context():
        assert _db.session.get(Event, published_id) is not None
