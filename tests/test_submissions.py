"""A staff form that records something, sent twice, records once (``coop.submissions``).

Each form is drawn as staff see it (its page gives the key), sent, then sent again exactly as a
double click or Back-and-send would: the second answer leads where the first did, says so, and
not one row of any table nor one email more is added. A sending that fails takes no key, so
the corrected form goes through; two sendings at the same moment record once.
"""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
import sqlalchemy as sa

from coop import submissions
from coop.extensions import db as _db
from tests.conftest import PASSWORD
from tests.events.test_staff import event_form, series_form
from tests.fund.conftest import london_today
from tests.records import campaign, event, notice, series, snapshot

TODAY = london_today().isoformat()


def _key(page: str, action: str | None = None) -> str:
    """The key the page's form draws; with ``action``, the key of the form sent there (the
    event's staff page draws two: a booking and a message)."""
    pattern = r'name="submission"[^>]*value="([^"]+)"'
    if action is not None and len(re.findall(pattern, page)) > 1:
        forms = re.findall(r'<form[^>]*action="([^"#]*)[^"]*"[^>]*>(.*?)</form>', page, re.S)
        page = "".join(body for target, body in forms if target == action)
    found = re.findall(pattern, page)
    assert len(found) == 1, "the form's page should draw one key"
    return found[0]


def _enquiry(app) -> int:
    from coop.shares import services

    with app.app_context():
        contact = services.Contact(name="Ada Lovelace", email="ada@example.org",
                                   address="1 Fleet Street\nLondon", postcode="EC4Y 1AA",
                                   country="GB")
        enquiry = services.submit(_db.session, "shares", contact, 10_000,
                                  payment_method="cheque", max_pence=None)
        _db.session.commit()
        return enquiry.id


def _member(app, name: str = "Ann Member") -> int:
    """A member holding 300 shares; their membership number."""
    from coop.register import services

    with app.app_context():
        line = services.admit(_db.session, name=name, email=f"{name.split()[0]}@example.org",
                              address="1 Road\nLeeds", shares=300, on=london_today(), by=None,
                              invite=False)
        _db.session.commit()
        return line.member.number


def _register(app, action: str, data: dict):
    number = _member(app)
    return (f"/staff/register/{number}/{action}", f"/staff/register/{number}/{action}", data)


#: endpoint -> a function of the app giving the page that draws the form, where it posts
#: and what is typed into it
CASES = {
    "fund_staff.add_gift": lambda app: (lambda c: (
        f"/staff/fund/{c}/gifts/new", f"/staff/fund/{c}/gifts/new",
        {"amount": "7.77", "received_on": TODAY, "source": "post"}))(campaign(app)),
    "fund_staff.batch": lambda app: (lambda c: (
        f"/staff/fund/{c}/batch", f"/staff/fund/{c}/batch",
        {"received_on": TODAY, "source": "post", "lines-0-amount": "10",
         "lines-1-amount": "1,019.93", "lines-1-donor_name": "A. Reader",
         "lines-1-may_thank": "y"}))(campaign(app)),
    "fund_staff.add_correction": lambda app: (lambda c: (
        f"/staff/fund/{c}/corrections/new", f"/staff/fund/{c}/corrections/new",
        {"amount": "5", "received_on": TODAY, "source": "post",
         "reason": "A cheque counted short"}))(campaign(app)),
    "fund_staff.new_campaign": lambda app: (
        "/staff/fund/campaigns/new", "/staff/fund/campaigns/new",
        {"name": "Spring appeal", "slug": "spring", "target": "5,000",
         "opens_on": "2031-03-01", "deadline": "2031-03-31"}),
    "fund_staff.next_campaign": lambda app: (
        "/staff/fund", "/staff/fund/campaigns/next", {}),
    "register_staff.admit": lambda app: (
        "/staff/register/admit", "/staff/register/admit",
        {"name": "Ann Reader", "email": "ann@example.org", "address": "1 Road\nLeeds",
         "shares": "100", "on": TODAY}),
    "register_staff.allot": lambda app: _register(app, "allot", {"shares": "10", "on": TODAY}),
    "register_staff.withdraw": lambda app: _register(
        app, "withdraw", {"shares": "5", "on": TODAY, "confirm": "y"}),
    "register_staff.transfer": lambda app: (lambda to: _register(
        app, "transfer", {"to_number": str(to), "shares": "5", "on": TODAY,
                          "confirm": "y"}))(_member(app, "Bea Taker")),
    "register_staff.cease": lambda app: _register(
        app, "cease", {"on": TODAY, "expected_shares": "300", "confirm": "y"}),
    # QA: reloading "Token created" sent it again: "a token with this name already exists"
    "api_admin.create": lambda app: ("/admin/api-tokens", "/admin/api-tokens",
                                     {"name": "payments"}),
    "shares_staff.add_note": lambda app: (lambda e: (
        f"/staff/enquiries/{e}", f"/staff/enquiries/{e}/notes",
        {"body": "Rang back: cheque in the post"}))(_enquiry(app)),
    "notices_staff.new": lambda app: (
        "/staff/notices/new", "/staff/notices/new",
        {"text": "Printing strike on Friday", "level": "info",
         "starts_at": "2026-07-01T09:00", "ends_at": ""}),
    "events_staff.new_event": lambda app: (
        "/staff/events/new", "/staff/events/new", event_form()),
    "events_staff.new_series": lambda app: (
        "/staff/events/series/new", "/staff/events/series/new", series_form()),
    "fund_staff.edit_campaign": lambda app: (lambda c: (
        f"/staff/fund/{c}/edit", f"/staff/fund/{c}/edit",
        {"name": "Renamed", "target": "20,000", "opens_on": "2026-11-01",
         "deadline": "2026-12-31"}))(campaign(app)),
    "events_staff.edit_event": lambda app: (lambda e: (
        f"/staff/events/{e}/edit", f"/staff/events/{e}/edit",
        event_form(title="A talk, moved", start_date="2030-11-07")))(
        event(app, places=["ann@example.org"])[0]),
    "notices_staff.edit": lambda app: (lambda n: (
        f"/staff/notices/{n}/edit", f"/staff/notices/{n}/edit",
        {"text": "Changed", "level": "info", "starts_at": "2026-07-01T09:00",
         "ends_at": ""}))(notice(app)),
    "events_staff.book": lambda app: (lambda e: (
        f"/staff/events/{e}", f"/staff/events/{e}/bookings",
        {"name": "Rita Caller", "email": "rita@example.org"}))(event(app)[0]),
    # QA: a double click on "Change email" sent two links
    "accounts.change_email": lambda app: (
        "/account", "/account/email", {"new_email": "new.me@example.org",
                                       "email_password": PASSWORD}),
    # QA: a reader's double click on "Register" emailed "You're already registered…"
    "events.register": lambda app: (lambda slug: (
        f"/events/{slug}", f"/events/{slug}/register", {}))(event(app)[1]),
    "events.register_series": lambda app: (lambda slug: (
        f"/series/{slug}", f"/series/{slug}/register", {}))(series(app)),
    "events_staff.message": lambda app: (lambda e: (
        f"/staff/events/{e}", f"/staff/events/{e}/message",
        {"audience": "places", "subject": "Room change", "body": "We're in room 2 now."}))(
        event(app, places=["ann@example.org"])[0]),
}


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_a_form_sent_twice_records_once(endpoint, app, client, login_as, outbox):
    login_as("admin" if endpoint.startswith("api_admin.") else "staff")
    page, action, data = CASES[endpoint](app)
    key = _key(client.get(page).get_data(as_text=True), action)
    page_html = client.get(page).get_data(as_text=True)
    seen = re.findall(r'name="seen"[^>]*value="([^"]+)"', page_html)
    if seen:  # an edit form: the version it was drawn from goes with it, as from a browser
        data = {**data, "seen": seen[0]}
    first = client.post(action, data={**data, "submission": key})
    # a new API token's secret is shown on the answer itself, once; sent again, the list
    led_to = ("/admin/api-tokens" if endpoint == "api_admin.create"
              # a member goes on to their registration's page, whose signed link the
              # database never keeps: a second sending leads to the event's page
              else page if endpoint == "events.register" else first.headers.get("Location"))
    assert first.status_code in (302, 303) or (
        endpoint == "api_admin.create" and first.status_code == 200), first.text[:3000]
    after_first, mails = snapshot(app), len(outbox())

    second = client.post(action, data={**data, "submission": key})

    assert second.status_code == 303
    assert second.headers["Location"] == led_to
    assert snapshot(app) == after_first and len(outbox()) == mails
    shown = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "nothing was added the second time" in shown
    if "edit" in endpoint:  # a second save of the same values changes nothing anyway
        return
    if endpoint == "events.register":  # the page now says "You have a place": no form
        return
    # a new drawing of the form is a new sending
    again = client.post(action, data={**data, "submission": _key(
        client.get(page).get_data(as_text=True), action)})
    if endpoint not in ("fund_staff.new_campaign", "register_staff.admit",
                        "register_staff.cease", "api_admin.create",
                        "fund_staff.next_campaign", "events_staff.new_event",
                        "events_staff.new_series", "events_staff.book",
                        "events.register_series"):  # those refuse or rename a second one
        # (a booking or a registration: that address is on the list already)
        assert again.status_code in (302, 303) and snapshot(app) != after_first


def test_every_form_that_records_draws_its_key(app):
    """The forms that carry a key: each view above claims it (the test above sends each
    twice), and the share forms keep theirs on the enquiry. A new form with a key needs its
    view in CASES."""
    from coop.forms import SentOnce

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    names = {cls.__name__ for cls in subclasses(SentOnce)}
    assert names == {"GiftForm", "BatchForm", "CorrectionForm", "CampaignForm",
                     "EditCampaignForm", "AdmitForm", "NoteForm", "NoticeForm", "EventForm",
                     "SeriesForm", "MessageForm", "BookingForm", "SentOnceButton", "EnquiryForm",
                     "ShareEnquiryForm", "SupportForm", "AllotForm", "WithdrawForm",
                     "TransferForm", "CeaseForm", "NewTokenForm", "RegistrationForm",
                     "MemberRegistrationForm", "EmailChangeForm"}


def test_a_sending_that_failed_takes_no_key(app, client, login_as):
    """A refused correction (it would take the total below zero) records nothing, its key
    neither: the same form corrected goes through."""
    login_as("staff")
    campaign_id = campaign(app)
    page = f"/staff/fund/{campaign_id}/corrections/new"
    key = _key(client.get(page).get_data(as_text=True))
    data = {"received_on": TODAY, "source": "post", "reason": "Miscounted",
            "submission": key}
    refused = client.post(page, data={**data, "amount": "-5"})
    assert refused.status_code == 422
    assert _key(refused.get_data(as_text=True)) == key  # drawn again with the same key
    with app.app_context():
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(
            submissions.FormSubmission)) == 0
    assert client.post(page, data={**data, "amount": "5"}).status_code == 302


def test_a_form_without_a_key_of_ours_is_saved_but_not_recognised(app, client, login_as):
    login_as("staff")
    campaign_id = campaign(app)
    data = {"amount": "3", "received_on": TODAY, "source": "post"}
    for sent in ("", "<script>", "x" * 500):
        assert client.post(f"/staff/fund/{campaign_id}/gifts/new",
                           data={**data, "submission": sent}).status_code == 302
    with app.app_context():
        from coop.fund.models import Campaign

        assert _db.session.get(Campaign, campaign_id).raised_pence == 900


def test_two_sendings_at_the_same_moment_record_once(app):
    """The service steps of the gift view (claim, add the entry, note where it leads, commit)
    in five threads at once: one gift, the others told it was sent (on PostgreSQL the unique
    key makes them wait; on SQLite the write lock)."""
    from coop.fund import services
    from coop.fund.models import Campaign

    campaign_id = campaign(app)

    class Form:
        submission_key = "k" * 22

    barrier, outcomes, lock = threading.Barrier(5), [], threading.Lock()

    def send():
        with app.test_request_context("/staff/fund/gift", method="POST"):
            barrier.wait()
            try:
                sent = submissions.claim(_db.session, Form())
                campaign = _db.session.get(Campaign, campaign_id)
                services.add_entry(_db.session, campaign, 1000, received_on=london_today(),
                                   source="post", via="staff")
                sent.leads_to("/done")
                _db.session.commit()
                outcome = "saved"
            except submissions.AlreadySent as err:
                _db.session.rollback()
                outcome = f"already:{err.location}"
            finally:
                _db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=send) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["already:/done"] * 4 + ["saved"]
    with app.app_context():
        assert _db.session.get(Campaign, campaign_id).raised_pence == 1000


def test_keys_are_forgotten_after_a_week(app):
    from coop import schedule

    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        _db.session.add_all([
            submissions.FormSubmission(key="a" * 22, endpoint="x", location="/",
                                       created_at=now - dt.timedelta(days=8)),
            submissions.FormSubmission(key="b" * 22, endpoint="x", location="/",
                                       created_at=now - dt.timedelta(days=1))])
        _db.session.commit()
        summary = schedule.purge_idempotency_keys(_db.session, now)
        assert "1 form key older than 7 days" in summary
        assert _db.session.scalars(sa.select(submissions.FormSubmission.key)).all() == [
            "b" * 22]
