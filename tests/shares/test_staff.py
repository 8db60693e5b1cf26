"""The staff inbox and the member's view, through the pages."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from html import unescape

import pytest
import sqlalchemy as sa

from coop.audit import AuditEvent
from coop.extensions import db as _db
from coop.shares.models import Enquiry
from tests.conftest import login
from tests.shares.conftest import share_form

UTC = dt.UTC


def reload(app, enquiry_id: int) -> Enquiry:
    with app.app_context():
        enquiry = _db.session.get(Enquiry, enquiry_id)
        _ = enquiry.changes, enquiry.notes
        _db.session.expunge(enquiry)
        return enquiry


def test_inbox_is_staff_only(client, login_as):
    assert client.get("/staff/enquiries").status_code == 302
    login_as("member")
    assert client.get("/staff/enquiries").status_code == 403
    assert client.get("/staff/enquiries/export.csv").status_code == 403


def test_staff_dashboard_links_to_the_inbox(client, login_as):
    login_as("staff")
    html = client.get("/staff").get_data(as_text=True)
    assert 'href="/staff/enquiries"' in html and "Share and supporter enquiries" in html


def test_inbox_lists_newest_first_with_filters_and_search(client, login_as, make_enquiry):
    t0 = dt.datetime(2024, 5, 1, 12, tzinfo=UTC)
    old = make_enquiry(name="Old Reader", email="old@example.org", now=t0)
    new = make_enquiry("supporter", name="王秀英", email="wang@example.org",
                       now=t0 + dt.timedelta(days=5))
    login_as("staff")
    html = client.get("/staff/enquiries").get_data(as_text=True)
    assert "2 enquiries, newest first" in html
    assert html.index(new.reference) < html.index(old.reference)
    html = client.get("/staff/enquiries?kind=supporter").get_data(as_text=True)
    assert new.reference in html and old.reference not in html
    html = client.get("/staff/enquiries?q=old%40example").get_data(as_text=True)
    assert old.reference in html and new.reference not in html
    html = client.get(f"/staff/enquiries?q={new.reference}").get_data(as_text=True)
    assert new.reference in html and "1 enquiry," in html
    html = client.get("/staff/enquiries?date_from=2024-05-03").get_data(as_text=True)
    assert new.reference in html and old.reference not in html
    html = client.get("/staff/enquiries?date_to=2024-05-03&status=new").get_data(as_text=True)
    assert old.reference in html and new.reference not in html
    assert 'value="2024-05-03"' in html  # the filters are kept
    irish = make_enquiry(name="Seán Ó Súilleabháin", email="sean@example.org")
    for q in ("o suilleabhain", "Ó SÚILLEABHÁIN", "sean o"):  # QA: accents and case folded
        html = client.get("/staff/enquiries", query_string={"q": q}).get_data(as_text=True)
        assert irish.reference in html and old.reference not in html, q
    html = client.get("/staff/enquiries", query_string={"q": "王秀"}).get_data(as_text=True)
    assert new.reference in html and irish.reference not in html


def test_inbox_survives_nonsense_filters(client, login_as, make_enquiry):
    make_enquiry()
    login_as("staff")
    for query in ("date_from=yesterday", "date_from=2024-13-45", "kind=<b>", "status=%00",
                  "page=-1", "page=abc", "q=" + "x" * 500,
                  "date_from=2024-05-03&date_to=2024-05-01"):
        response = client.get(f"/staff/enquiries?{query}")
        # 400: the site refuses NUL bytes; 422: a filter that can't be read
        assert response.status_code in (200, 400, 422), query
        assert client.get(f"/staff/enquiries/export.csv?{query}").status_code in (
            200, 302, 400)


@pytest.mark.parametrize("query", ["date_from=2027-02-31", "q=" + "x" * 5000,
                                   "date_from=2024-05-03&date_to=2024-05-01"])
def test_a_filter_that_cant_be_read_lists_nothing_rather_than_everything(
        client, login_as, make_enquiry, query):
    make_enquiry(name="Listed Anyway")
    login_as("staff")
    response = client.get(f"/staff/enquiries?{query}")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Nothing is listed until the filter is put right" in html
    assert "Listed Anyway" not in html and "as CSV" not in html
    export = client.get(f"/staff/enquiries/export.csv?{query}")
    assert export.status_code == 302 and "/staff/enquiries?" in export.headers["Location"]


def test_inbox_is_paginated(client, login_as, make_enquiry):
    for i in range(27):
        make_enquiry(email=f"reader{i}@example.org",
                     now=dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(hours=i))
    login_as("staff")
    html = client.get("/staff/enquiries?kind=shares").get_data(as_text=True)
    assert "27 enquiries" in html and "Page 1 of 2" in html
    assert len(re.findall(r"reader\d+@", html)) == 25
    assert "reader26@" in html and "reader0@" not in html
    assert 'href="/staff/enquiries?page=2&amp;kind=shares"' in html
    page2 = client.get("/staff/enquiries?page=2&kind=shares").get_data(as_text=True)
    assert "reader0@" in page2 and "reader1@" in page2 and "reader26@" not in page2


def test_markup_is_text_in_the_inbox_detail_and_csv(app, client, login_as, make_enquiry):
    """New enquiries refuse < and > in names; rows from before that rule still show as text."""
    evil = '<img src=x onerror=alert(1)>'
    enquiry = make_enquiry(name="Evil", email="evil@example.org")
    with app.app_context():
        _db.session.execute(sa.update(Enquiry).values(name=evil))
        _db.session.commit()
    staff = login_as("staff")
    assert staff
    inbox = client.get("/staff/enquiries").get_data(as_text=True)
    assert evil not in inbox and "&lt;img src=x onerror=alert(1)&gt;" in inbox
    detail = client.get(f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
    assert evil not in detail and "&lt;img" in detail
    client.post(f"/staff/enquiries/{enquiry.id}/notes", data={"body": "<b>bold</b> claim"})
    detail = client.get(f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
    assert "<b>bold</b>" not in detail and "&lt;b&gt;bold&lt;/b&gt; claim" in detail


def test_csv_export_of_the_filtered_list_neutralises_formulas(client, login_as, make_enquiry):
    make_enquiry(name="=HYPERLINK(\"http://evil\")", email="formula@example.org")
    make_enquiry("supporter", name="王秀英", email="+wang@example.org", amount_pence=1250)
    make_enquiry(name="-Minus", email="@at@example.org")
    login_as("staff")
    response = client.get("/staff/enquiries/export.csv?kind=shares")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert header[:5] == ["Reference", "Kind", "Status", "Received", "Amount (£)"]
    assert len(body) == 2  # only the filtered kind
    # QA: "shares" and "new", the stored values; the words the pages use
    assert {(row[1], row[2]) for row in body} == {("Shares", "New")}
    names = {row[header.index("Name")] for row in body}
    assert names == {"'=HYPERLINK(\"http://evil\")", "'-Minus"}
    emails = {row[header.index("Email")] for row in body}
    assert "'@at@example.org" in emails
    everything = client.get("/staff/enquiries/export.csv").get_data(as_text=True)
    assert "王秀英" in everything and "'+wang@example.org" in everything
    assert ",12.50," in everything


def test_notes(app, client, login_as, make_enquiry):
    enquiry = make_enquiry()
    login_as("staff", name="Sam Secretary")
    response = client.post(f"/staff/enquiries/{enquiry.id}/notes",
                           data={"body": "Rang; cheque coming"})
    assert response.status_code == 302
    html = client.get(f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
    assert "Rang; cheque coming" in html and "Sam Secretary" in html
    response = client.post(f"/staff/enquiries/{enquiry.id}/notes", data={"body": "x" * 2001})
    assert response.status_code == 422
    assert "A note can be at most 2000 characters." in response.get_data(as_text=True)
    assert len(reload(app, enquiry.id).notes) == 1


def test_resend_acknowledgement_after_a_mail_failure(make_app, smtp_server, closed_port,
                                                     make_user):
    """The old "resend acknowledgement" button is the outbox's "try again" now."""
    dead = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=closed_port, MAIL_TIMEOUT=2)
    dead.test_client().post("/shares", data=share_form())
    with dead.app_context():
        enquiry = _db.session.scalar(sa.select(Enquiry))
        assert enquiry.email_failed
        enquiry_id = enquiry.id
    staff = make_user("staff")

    client = dead.test_client()
    login(client, staff.email)
    html = client.get("/staff/enquiries?email_failed=y").get_data(as_text=True)
    assert "Email failed" in html
    html = client.get(f"/staff/enquiries/{enquiry_id}").get_data(as_text=True)
    assert "The acknowledgement email has not been delivered" in html
    assert "Connection refused" in html
    response = client.post(f"/staff/enquiries/{enquiry_id}/resend", follow_redirects=True)
    assert "will be tried again now" in response.get_data(as_text=True)
    assert reload(dead, enquiry_id).email_failed is True  # still down: tried, failed again

    live = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    client = live.test_client()
    login(client, staff.email)
    response = client.post(f"/staff/enquiries/{enquiry_id}/resend", follow_redirects=True)
    assert "will be tried again now" in response.get_data(as_text=True)
    saved = reload(live, enquiry_id)
    assert saved.email_failed is False and saved.acknowledged_at is not None
    [message] = smtp_server.messages
    assert saved.reference in message["Subject"]
    # once delivered, the button sends a fresh copy (the reader lost the first)
    response = client.post(f"/staff/enquiries/{enquiry_id}/resend", follow_redirects=True)
    assert "A new copy of the acknowledgement" in response.get_data(as_text=True)
    assert len(smtp_server.messages) == 2


@pytest.mark.parametrize("status", ["declined", "withdrawn"])
def test_a_closed_enquiry_gets_no_acknowledgement_again(app, client, login_as, make_enquiry,
                                                        outbox, status):
    """It says how to pay: a declined enquirer (over the holding limit, say) must not be told
    to pay, so a closed enquiry has no button and a stale post is refused."""
    enquiry = make_enquiry(name="Jean Dupont", email="jean@example.org")
    with app.app_context():
        row = _db.session.get(Enquiry, enquiry.id)
        row.status = status
        _db.session.commit()
    login_as("staff")
    page = client.get(f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
    assert "Send the acknowledgement again" not in page
    before = len(outbox())
    response = client.post(f"/staff/enquiries/{enquiry.id}/resend", follow_redirects=True)
    assert f"This enquiry is {status}, so its acknowledgement" in response.get_data(as_text=True)
    assert len(outbox()) == before


def test_erase_through_the_page(app, client, login_as, make_enquiry):
    enquiry = make_enquiry(name="Zoë Brown", email="zoe@example.org")
    staff = login_as("staff")
    client.post(f"/staff/enquiries/{enquiry.id}/notes", data={"body": "private note"})
    response = client.post(f"/staff/enquiries/{enquiry.id}/erase", data={})
    assert response.status_code == 422
    assert "Tick the box to confirm." in response.get_data(as_text=True)
    assert not reload(app, enquiry.id).is_erased
    response = client.post(f"/staff/enquiries/{enquiry.id}/erase", data={"confirm": "y"})
    assert response.status_code == 302
    saved = reload(app, enquiry.id)
    assert saved.is_erased and saved.name == "" and saved.name_folded == "" and saved.notes == []
    html = client.get(f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
    assert "Zoë Brown" not in html and "private note" not in html
    assert "Personal data erased" in html and enquiry.reference in html
    with app.app_context():
        event = _db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.action == "enquiry.erased"))
        assert event.actor_id == staff.id and event.subject_id == enquiry.reference
        assert "Zoë" not in str(event.details)


def test_unknown_enquiry_is_404_for_staff(client, login_as):
    login_as("staff")
    assert client.get("/staff/enquiries/999").status_code == 404
    assert client.post("/staff/enquiries/999/status", data={"status": "contacted"}).status_code \
        == 404


def test_member_form_is_prefilled_and_linked(app, client, login_as, make_enquiry):
    member = login_as("member", name="Mo Member")
    html = client.get("/shares").get_data(as_text=True)
    assert 'value="Mo Member"' in html and f'value="{member.email}"' in html
    client.post("/shares", data=share_form(name="Mo Member", email=member.email))
    with app.app_context():
        enquiry = _db.session.scalar(sa.select(Enquiry))
        assert enquiry.user_id == member.id
        reference, enquiry_id = enquiry.reference, enquiry.id
    assert "your account page" in client.get("/shares/thank-you").get_data(as_text=True)
    account = client.get("/account").get_data(as_text=True)
    assert "Your share and supporter enquiries" in account
    assert reference in account and "New" in account
    page = client.get(f"/account/enquiries/{enquiry_id}")
    assert page.status_code == 200
    assert reference in page.get_data(as_text=True)
    assert "<dt>Paying by</dt>" in page.get_data(as_text=True)
    with app.app_context():
        from coop.shares import services
        from coop.shares.models import PaidMethod

        enquiry = _db.session.get(Enquiry, enquiry_id)
        services.record_payment(_db.session, enquiry, amount_pence=enquiry.amount_pence,
                                received_on=enquiry.created_at.date(),
                                method=PaidMethod.ONLINE, by=None)
        _db.session.commit()
    page = client.get(f"/account/enquiries/{enquiry_id}").get_data(as_text=True)
    # QA: it still said "Paying by: Bank transfer" beside a card payment
    assert "<dt>Paying by</dt>" not in page and " paid online, on " in page
    login_as("staff")
    history = client.get(f"/staff/enquiries/{enquiry_id}").get_data(as_text=True)
    assert ": received, sent while logged in</li>" in history


def test_member_cannot_see_another_members_enquiry(client, login_as, make_user, make_enquiry):
    other = make_user("member")
    theirs = make_enquiry(user=other, email=other.email)
    anonymous = make_enquiry(email="anon@example.org")
    login_as("member")
    assert client.get(f"/account/enquiries/{theirs.id}").status_code == 404
    assert client.get(f"/account/enquiries/{anonymous.id}").status_code == 404
    assert theirs.reference not in client.get("/account").get_data(as_text=True)


def test_account_section_when_there_are_none(client, login_as):
    login_as("member")
    html = client.get("/account").get_data(as_text=True)
    assert "You haven&#39;t sent any." in html or "You haven't sent any." in html


def test_data_export_and_account_deletion_hooks(app, make_user, make_enquiry):
    from coop import hooks

    member = make_user("member")
    enquiry = make_enquiry(user=member, email=member.email)
    with app.app_context():  # a finished one: erased with the account
        _db.session.get(Enquiry, enquiry.id).status = "withdrawn"
        _db.session.commit()
    with app.test_request_context():
        user = _db.session.merge(member)
        exported = dict(hooks.call("data_export", _db.session, user))
        assert exported["share_enquiries"][0]["reference"] == enquiry.reference
        hooks.call("account_deletion", _db.session, user)
        _db.session.commit()
    saved = reload(app, enquiry.id)
    assert saved.is_erased and saved.user_id is None and saved.email == ""


def test_an_erased_admitted_enquiry_says_what_happened(app, client, login_as, make_enquiry):
    from tests.shares.test_workflow import move

    enquiry = make_enquiry()
    move(app, enquiry.id, "payment_received", "admitted")
    login_as("staff")
    assert client.post(f"/staff/enquiries/{enquiry.id}/erase",
                       data={"confirm": "y"}).status_code == 302
    html = client.get(f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
    assert "The membership number went with the erasure" in html
    assert "before admissions were recorded" not in html
    assert "membership number 0" not in html  # nor in the history's details


def test_the_export_leads_back_with_the_filter_alone(client, login_as):
    login_as("staff")
    response = client.get("/staff/enquiries/export.csv?date_from=2026-02-31&endpoint=x"
                          "&_scheme=https&_external=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/enquiries?date_from=2026-02-31"


def test_a_member_buying_more_shares_finds_the_register_s_details_filled_in(
        app, client, make_user, outbox):
    """A logged-in member's address, postcode, "I already hold shares" and number come from
    the register; the acknowledgement and thank-you page speak of adding to their holding,
    not of becoming a member."""
    from coop.register import services as register

    user = make_user("member", email="held@example.org", name="Hal Holder")
    with app.app_context():
        from coop.accounts.models import User

        allotment = register.admit(_db.session, name="Hal Holder", email="held@example.org",
                                   address="3 Marx Walk\nLondon\nEC1R 0DU", shares=100,
                                   on=dt.date(2024, 5, 1), by=None, invite=False)
        register.link_account(_db.session, allotment.member, _db.session.get(User, user.id),
                              by=None)
        _db.session.commit()
        number = allotment.member.number_text
    assert login(client, user.email).status_code == 302
    page = unescape(client.get("/shares").get_data(as_text=True))
    assert "3 Marx Walk\nLondon</textarea>" in page
    assert 'value="EC1R 0DU"' in page
    assert re.search(r'id="existing_holder"[^>]*checked|checked[^>]*id="existing_holder"', page)
    assert f'value="{number}"' in page
    response = client.post("/shares", data=share_form(
        name="Hal Holder", email="held@example.org", address="3 Marx Walk\nLondon",
        postcode="EC1R 0DU", existing_holder="y", member_number=number))
    assert response.status_code == 302
    thanks = unescape(client.get("/shares/thank-you").get_data(as_text=True))
    assert "the shares are added to your holding" in thanks and "one vote" not in thanks
    [ack] = [m for m in outbox() if m["To"] == "held@example.org"]
    text = ack.get_content()
    assert "the shares are added to your holding" in text and "one vote" not in text
    # more than the Act lets one member hold is refused before anything is paid (QA)
    form = share_form(name="Hal Holder", email="held@example.org", address="3 Marx Walk",
                      postcode="EC1R 0DU", existing_holder="y", member_number=number)
    over = client.post("/shares", data={**form, "amount": "100000"})
    assert over.status_code == 422  # the first enquiry (£250) is still open: it counts
    assert ("You hold 100 shares and have asked for 250 more in enquiries still open, and one "
            "member may hold at most 100,000: you can buy up to 99,650 more (£99,650).") in \
        unescape(over.get_data(as_text=True))
    assert client.post("/shares", data={**form, "amount": "99651"}).status_code == 422
    assert client.post("/shares", data={**form, "amount": "99650"}).status_code == 302
    again = client.post("/shares", data={**form, "amount": "1"})  # two open ones fill it
    assert "you can&#39;t buy more now" in again.get_data(as_text=True)


def test_a_register_address_splits_back_into_the_form_s_fields():
    from coop.shares.services import register_address, split_register_address

    for lines, postcode, country in (("1 Road\nLondon", "EC4Y 1AA", "GB"),
                                     ("12 Rue de Rivoli\nParis 75001", "", "FR"),
                                     ("Flat 2\n9 Street", "", "GB")):
        stored = register_address(lines, postcode, country)
        assert split_register_address(stored) == (lines, postcode, country)


def test_notes_say_who_wrote_them_the_website_or_a_former_member_of_staff(
        app, client, login_as, make_user, make_enquiry):
    """A note with no author was "Someone": the website's own (a payment, a refund) and one
    whose author's account was deleted read the same."""
    from coop.accounts.models import User
    from coop.shares import services

    enquiry = make_enquiry(name="Rosa Reader", email="rosa@example.org")
    leaver = make_user("staff", email="leaver@example.org", name="Lee Leaver")
    with app.app_context():
        saved = _db.session.get(Enquiry, enquiry.id)
        services.add_note(_db.session, saved, "Rang them; cheque in the post.",
                          by=_db.session.get(User, leaver.id))
        services.add_note(_db.session, saved, "Paid online: £250.", by=None)
        _db.session.commit()
    login_as("staff", email="stays@example.org", name="Sam Stays")
    html = client.get(f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
    assert "Lee Leaver, " in html and "The website, " in html
    with app.app_context():
        _db.session.delete(_db.session.get(User, leaver.id))
        _db.session.commit()
    html = client.get(f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
    meta = re.findall(r'<p class="note-meta">([^,]+),', html)
    assert sorted(meta) == ["A former member of staff", "The website"]
    assert "Someone" not in html and "Lee Leaver" not in html


def test_a_note_typed_while_the_session_went_stale_is_kept_and_sent_after_the_password(
        app, client, make_user, make_enquiry):
    """Review: a staff form sent from a session no longer fresh (restored from remember-me,
    or another network) led to the password page, and what was typed was lost."""
    from html import unescape as un

    from werkzeug.datastructures import MultiDict

    from tests.conftest import PASSWORD, remembered_client

    enquiry = make_enquiry(name="Rosa Reader", email="rosa@example.org")
    later = remembered_client(app, make_user("staff").email)
    note = 'Rang them: cheque "in the post" <soon> & a second line\nhere.'
    page = later.post(f"/staff/enquiries/{enquiry.id}/notes", data={"body": note},
                      headers={"Referer": f"http://localhost/staff/enquiries/{enquiry.id}"})
    assert page.status_code == 200
    assert reload(app, enquiry.id).notes == []  # nothing saved yet
    fields = [(un(n), un(v)) for n, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.get_data(as_text=True))]
    assert ("carry:body", note) in fields
    wrong = later.post("/login/confirm", data=MultiDict([
        *fields, ("password", "not it at all"), ("next", f"/staff/enquiries/{enquiry.id}")]))
    assert wrong.status_code == 422
    assert ("carry:body", note) in [(un(n), un(v)) for n, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', wrong.get_data(as_text=True))]
    done = later.post("/login/confirm", data=MultiDict([
        *fields, ("password", PASSWORD), ("next", f"/staff/enquiries/{enquiry.id}")]))
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "Thank you: now send it" in html
    assert f'action="/staff/enquiries/{enquiry.id}/notes"' in html
    again = [(un(n), un(v)) for n, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)]
    assert ("body", note) in again
    assert later.post(f"/staff/enquiries/{enquiry.id}/notes",
                      data=MultiDict(again)).status_code == 302
    assert [n.body for n in reload(app, enquiry.id).notes] == [note.strip()]
