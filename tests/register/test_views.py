"""The register's pages: staff search, member page, forms with their errors, the CSV export,
certificates (who may open them), and the member's own section on /account."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re

import sqlalchemy as sa

from coop.extensions import db as _db
from coop.register.models import AddressChange, Member, ShareTransaction
from tests.conftest import login, remembered_client
from tests.register.conftest import get_member, london_today

TODAY = london_today().isoformat()


def _rows(app, model) -> int:
    with app.app_context():
        return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_staff_search_and_filter(client, login_as, admit):
    admit(name="Zoë Brown", email="zoe@example.org")
    admit(name="Kwame Mensah", email="kwame@example.org")
    login_as("staff")
    page = client.get("/staff/register").get_data(as_text=True)
    assert "Zoë Brown" in page and "Kwame Mensah" in page and "2 current members" in page
    page = client.get("/staff/register?q=kwame").get_data(as_text=True)
    assert "Kwame Mensah" in page and "Zoë Brown" not in page
    page = client.get("/staff/register?q=000001").get_data(as_text=True)
    assert "Zoë Brown" in page and "Kwame Mensah" not in page
    page = client.get("/staff/register?status=ceased").get_data(as_text=True)
    assert "No members match." in page
    # a search that can't be read lists nobody (QA: it listed every member under the error)
    for bad in ({"q": "x" * 3000}, {"status": "bogus"}):
        response = client.get("/staff/register", query_string=bad)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, bad
        assert "Nobody is listed until the search is put right" in page
        assert "Zoë Brown" not in page and "Kwame Mensah" not in page
    # accents and case are folded both ways, on either database (QA: "Ni Bhriain" found nobody)
    admit(name="Siobhán NÍ BHRIAIN", email="siobhan@example.org")
    for q in ("ni bhriain", "Ní Bhriain", "SIOBHAN", "zoe"):
        found = client.get("/staff/register", query_string={"q": q}).get_data(as_text=True)
        assert ("Siobhán NÍ BHRIAIN" in found) is (q != "zoe") and ("Zoë Brown" in found) is (
            q == "zoe"), q
    with client.application.app_context():  # a corrected name is searched as corrected
        from coop.register import services

        member = services.get_by_number(_db.session, 3)
        services.correct_details(_db.session, member, name="Siobhán Ó Súilleabháin",
                                 email=member.email, reason="Married name", by=None)
        _db.session.commit()
    assert "Siobhán Ó Súilleabháin" in client.get(
        "/staff/register?q=o+suilleabhain").get_data(as_text=True)
    # nonsense is refused next to its field, never a 500
    assert client.get("/staff/register?status=bogus&q=" + "x" * 500 + "&page=-3").status_code == 422
    assert client.get("/staff/register?page=-3").status_code == 200


def test_the_register_is_paginated(client, login_as, admit):
    for _ in range(51):
        admit()
    login_as("staff")
    first = client.get("/staff/register").get_data(as_text=True)
    assert "Page 1 of 2" in first and "000050" in first and "000051" not in first
    second = client.get("/staff/register?page=2").get_data(as_text=True)
    assert "000051" in second


def test_a_one_page_register_shows_no_page_numbers_even_asked_for_page_two(
        client, login_as, admit):
    admit()
    login_as("staff")
    body = client.get("/staff/register?page=2").get_data(as_text=True)
    assert "Page 2 of 1" not in body and 'class="pagination"' not in body


def test_members_and_the_public_cannot_see_the_register(client, login_as, admit):
    admit()
    assert client.get("/staff/register").status_code == 302
    login_as("member")
    assert client.get("/staff/register").status_code == 403
    assert client.get("/staff/register/1").status_code == 403


def test_admit_form(app, client, login_as, make_user):
    make_user("member", email="ann@example.org")
    login_as("staff")
    form = client.get("/staff/register/admit")
    assert form.status_code == 200
    assert "emailed an invitation to choose a password" in form.get_data(as_text=True)
    response = client.post("/staff/register/admit", data={
        "name": "Ann Reader", "email": "ann@example.org", "address": "1 Road\nLeeds",
        "shares": "1,000", "on": TODAY})
    assert response.status_code == 302 and response.headers["Location"] == "/staff/register/1"
    page = client.get("/staff/register/1").get_data(as_text=True)
    assert "Ann Reader is member 000001, holding 1,000 shares." in page
    assert "ann@example.org" in page and "Allotment" in page
    # a member since before 2000 (the shared date range's start) is entered with their date
    response = client.post("/staff/register/admit", data={
        "name": "Old Hand", "email": "old.hand@example.org", "address": "2 Road\nLeeds",
        "shares": "10", "on": "1985-06-01"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "1 June 1985" in client.get(response.headers["Location"]).get_data(as_text=True)
    number = response.headers["Location"].rsplit("/", 1)[1]
    for action, extra in (("allot", {}), ("withdraw", {"confirm": "y"})):  # their later
        response = client.post(f"/staff/register/{number}/{action}", data={  # dates too
            "shares": "2", "on": "1990-03-01", **extra})
        assert response.status_code == 302, (action, response.get_data(as_text=True)[-3000:])
    page = client.get(f"/staff/register/{number}").get_data(as_text=True)
    assert page.count("1 Mar 1990") == 2  # the allotment and the withdrawal
    early = client.post(f"/staff/register/{number}/allot",
                        data={"shares": "2", "on": "1985-05-31"})
    assert early.status_code == 422 and "before the member was admitted" in early.get_data(
        as_text=True)


def test_a_postal_member_is_invited_to_an_account_only_when_staff_leave_the_box_ticked(
        app, client, login_as, outbox):
    """QA: admitting a postal applicant made an account and emailed an invitation unasked."""
    from coop.accounts.models import User

    login_as("staff")
    assert 'checked id="invite" name="invite" type="checkbox"' in client.get(
        "/staff/register/admit").get_data(as_text=True)  # ticked when drawn
    base = {"address": "1 Road\nLeeds", "shares": "10", "on": TODAY}
    client.post("/staff/register/admit", data={**base, "name": "By Post",
                                               "email": "post@example.org"})
    client.post("/staff/register/admit", data={**base, "name": "Online Too", "invite": "y",
                                               "email": "online@example.org"})
    with app.app_context():
        accounts = set(_db.session.scalars(sa.select(User.email)))
    assert "online@example.org" in accounts and "post@example.org" not in accounts
    invited = {m["To"] for m in outbox() if "invited" in m["Subject"].lower()}
    assert invited == {"online@example.org"}


def test_a_member_who_applied_by_post_may_have_no_email(app, client, login_as, outbox):
    """QA: the register couldn't hold a postal applicant without an email. The Act asks for a
    postal address; two such members are not taken for one, and nobody is emailed."""
    from coop.accounts.models import User

    login_as("staff")
    before = len(outbox())
    for name in ("First Post", "Second Post"):
        response = client.post("/staff/register/admit", data={
            "name": name, "email": "  ", "address": "1 Road\nLeeds", "shares": "10",
            "on": TODAY, "invite": "y"})
        assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        assert [(m.name, m.email, m.user_id) for m in _db.session.scalars(
            sa.select(Member).order_by(Member.number))] == [("First Post", "", None),
                                                             ("Second Post", "", None)]
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1  # staff
    assert len(outbox()) == before
    assert "None: by post" in client.get("/staff/register/1").get_data(as_text=True)
    assert client.get("/staff/register/export.csv").status_code in (200, 302)


def test_admit_form_refusals_keep_what_was_typed_and_save_nothing(app, client, login_as):
    login_as("staff")
    cases = [
        ({"name": "A" * 250}, "at most 200 characters"),
        ({"name": "<b>Ann</b>"}, "can&#39;t contain &lt; or &gt;"),
        ({"address": "x" * 550}, "at most 500 characters"),
        ({"shares": "0"}, "from 1 to 100,000"),
        ({"shares": "2.5"}, "whole number of shares"),
        ({"shares": "100001"}, "from 1 to 100,000"),
        ({"shares": "9" * 20}, "from 1 to 100,000"),  # QA: "Enter a whole number…"
        ({"shares": ""}, "Enter the number of shares."),
        ({"on": "1944-12-31"}, "before the society was founded (1 January 1945)"),
        ({"on": "0001-01-01"}, "before the society was founded (1 January 1945)"),
        ({"on": "9999-12-31"}, "in the future"),
        ({"name": "Ann\nReader"}, "single line of ordinary text"),
        ({"on": (london_today() + dt.timedelta(days=1)).isoformat()}, "in the future"),
        ({"on": "31/02/2020"}, "Enter a real date, like 31/12/2026."),
        ({"email": "not an email"}, "like name@example.org"),
    ]
    for change, message in cases:
        data = {"name": "Ann Reader", "email": "ann@example.org", "address": "1 Road",
                "shares": "10", "on": TODAY, **change}
        response = client.post("/staff/register/admit", data=data)
        body = response.get_data(as_text=True)
        assert response.status_code == 422, change
        assert message in body, (change, body[body.find("field-errors") - 200:][:600])
        assert "Nothing was saved" in body
    assert _rows(app, Member) == 0 and _rows(app, ShareTransaction) == 0
    # the society's founding day (a setting) is checked by the service
    from coop.register.services import Rules

    app.extensions["coop.register"] = Rules(founded=dt.date(2010, 1, 1))
    body = client.post("/staff/register/admit", data={
        "name": "Ann Reader", "email": "ann@example.org", "address": "1 Road", "shares": "10",
        "on": "2009-12-31"}).get_data(as_text=True)
    assert "before the society was founded (1 January 2010)" in body
    body = client.post("/staff/register/admit", data={
        "name": "Ann Reader", "email": "ann@example.org", "address": "1 Road",
        "shares": "abc", "on": TODAY}).get_data(as_text=True)
    assert 'value="abc"' in body and 'value="Ann Reader"' in body


def test_allot_withdraw_transfer_and_cease_through_the_forms(app, client, login_as, admit):
    admit(shares=100)
    admit(shares=10, name="Second", email="second@example.org")
    login_as("staff")
    for path in ("allot", "withdraw", "transfer", "cease", "address"):
        assert client.get(f"/staff/register/1/{path}").status_code == 200
    r = client.post("/staff/register/1/allot", data={"shares": "50", "on": TODAY})
    assert r.status_code == 302
    # irreversible steps need the confirm box
    r = client.post("/staff/register/1/withdraw", data={"shares": "20", "on": TODAY})
    assert r.status_code == 422 and "Tick the box to confirm" in r.get_data(as_text=True)
    r = client.post("/staff/register/1/withdraw", data={"shares": "20", "on": TODAY,
                                                        "confirm": "y"})
    assert r.status_code == 302
    r = client.post("/staff/register/1/transfer", data={"to_number": "2", "shares": "30",
                                                        "on": TODAY, "confirm": "y"})
    assert r.status_code == 302
    with app.app_context():
        assert (get_member(1).shares_held, get_member(2).shares_held) == (100, 40)
    flashed = html.unescape(client.get("/staff/register/1").get_data(as_text=True))
    assert "from member 000001 to member 000002. Member 000002's certificate 0000" in flashed
    page = client.get("/staff/register/1/cease").get_data(as_text=True)
    assert 'name="expected_shares" type="hidden" value="100"' in page
    r = client.post("/staff/register/1/cease", data={"on": TODAY, "expected_shares": "100",
                                                     "confirm": "y"})
    assert r.status_code == 302
    page = client.get("/staff/register/1").get_data(as_text=True)
    assert "membership has ceased and 100 shares withdrawn" in page
    assert "Transfer out to" in page and "Withdrawal" in page
    assert 'href="/staff/register/1/allot"' not in page
    # a ceased member's holding can't change
    r = client.post("/staff/register/1/allot", data={"shares": "5", "on": TODAY})
    assert r.status_code == 422 and "their holding can&#39;t change" in r.get_data(as_text=True)


def test_form_refusals_name_the_field(app, client, login_as, admit):
    admit(shares=10)
    login_as("staff")
    cases = [
        ("withdraw", {"shares": "10"}, "To take every share, cease the membership"),
        ("withdraw", {"shares": "11"}, "can&#39;t go below zero"),
        ("transfer", {"to_number": "99", "shares": "1"}, "No member has the number “99”."),
        ("transfer", {"to_number": "abc", "shares": "1"}, "No member has the number “abc”."),
        ("transfer", {"to_number": "1", "shares": "1"}, "to themselves"),
        ("allot", {"shares": "100000"}, "above the maximum holding"),
        ("allot", {"shares": "5", "on": "2019-01-01"}, "before the member was admitted"),
        ("cease", {"expected_shares": "9"}, "changed while you had this form open"),
        ("cease", {"expected_shares": "x"}, "Reload the page"),
        ("address", {"address": "<script>x</script>"}, "can&#39;t contain &lt; or &gt;"),
    ]
    for path, change, message in cases:
        data = {"on": TODAY, "confirm": "y", **change}
        response = client.post(f"/staff/register/1/{path}", data=data)
        body = response.get_data(as_text=True)
        assert response.status_code == 422, (path, change)
        assert message in body, (path, change)
    with app.app_context():
        member = get_member(1)
        assert member.shares_held == 10 and member.ceased_on is None
    assert _rows(app, ShareTransaction) == 1 and _rows(app, AddressChange) == 1
    assert client.get("/staff/register/99").status_code == 404
    assert client.post("/staff/register/99/allot", data={"shares": "1"}).status_code == 404


def test_csv_export_has_the_legal_columns_and_is_injection_safe(app, client, login_as, admit):
    admit(name="=HYPERLINK(\"http://evil.example\")", email="a@example.org", shares=25,
          address="1 Road\n@Town")
    admit(name="Left", email="left@example.org", shares=5)
    with app.app_context():
        from coop.register import services

        services.cease(_db.session, get_member(2), on=london_today(), by=None,
                       expected_shares=5)
        _db.session.commit()
    login_as("staff")
    response = client.get("/staff/register/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Membership number", "Name", "Postal address", "Email", "Shares held",
                       "Amount paid (£)", "Date admitted", "Date ceased"]
    assert rows[1] == ["1", "'=HYPERLINK(\"http://evil.example\")", "1 Road, @Town",
                       "a@example.org", "25", "25", "2020-03-01", ""]
    assert rows[2][0] == "2" and rows[2][4] == "0" and rows[2][7] == london_today().isoformat()


def test_certificates_for_the_owner_and_staff_only(app, client, make_user, admit):
    owner = make_user("member", email="owner@example.org")
    admit(email="owner@example.org", name="Zoë Owner", shares=250)
    admit(email="other@example.org")
    assert client.get("/certificates/1").status_code == 302  # log in first
    assert login(client, owner.email).status_code == 302
    page = client.get("/certificates/1")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Zoë Owner" in body and "000001" in body and "250 fully paid shares" in body
    from markupsafe import escape

    assert str(escape(app.config["SOCIETY_NAME"])) in body
    assert app.config["SOCIETY_REGISTERED_NUMBER"] in body
    assert "1 March 2020" in body and "style.css" in body
    with client.get("/static/style.css") as response:
        css = response.get_data(as_text=True)
    assert "@media print" in css and ".certificate" in css
    pdf = client.get("/certificates/1.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-") and b"attachment" in pdf.headers[
        "Content-Disposition"].encode()
    assert client.get("/certificates/2").status_code == 404  # someone else's
    assert client.get("/certificates/2.pdf").status_code == 404
    assert client.get("/certificates/999").status_code == 404
    other = app.test_client()
    assert login(other, make_user("member").email).status_code == 302
    assert other.get("/certificates/1").status_code == 404
    staff = app.test_client()
    staff_user = make_user("staff")
    assert login(staff, staff_user.email).status_code == 302
    assert staff.get("/certificates/2").status_code == 200
    assert staff.get("/certificates/2.pdf").status_code == 200
    # a session restored from remember-me only: the password first, like every staff page
    remembered = remembered_client(app, staff_user.email)
    for path in ("/certificates/2", "/certificates/2.pdf"):
        response = remembered.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login/confirm?next="), path


def test_a_withdrawal_has_no_certificate(app, client, login_as, admit):
    admit(shares=10)
    with app.app_context():
        from coop.register import services

        services.withdraw(_db.session, get_member(1), 2, on=london_today(), by=None)
        _db.session.commit()
    login_as("staff")
    assert client.get("/certificates/2").status_code == 404


def test_shares_transferred_in_have_a_certificate_and_those_transferred_out_none(
        app, client, make_user, admit):
    """The member who receives shares by transfer gets a certificate for them, saying so;
    the giver's line has none."""
    giver, taker = make_user("member", email="giver@example.org"), make_user(
        "member", email="taker@example.org")
    admit(email="giver@example.org", name="Giver", shares=100)
    admit(email="taker@example.org", name="Taker", shares=10)
    with app.app_context():
        from coop.register import services

        out, transferred_in = services.transfer(_db.session, get_member(1), get_member(2), 30,
                                                on=london_today(), by=None)
        _db.session.commit()
        out_id, in_id = out.id, transferred_in.id
    assert login(client, taker.email).status_code == 302
    account = client.get("/account").get_data(as_text=True)
    assert f'href="/certificates/{in_id}"' in account
    page = client.get(f"/certificates/{in_id}").get_data(as_text=True)
    assert "Taker" in page and "30 fully paid shares" in page
    assert "acquired by transfer on" in page and "allotted on" not in page
    assert client.get(f"/certificates/{in_id}.pdf").status_code == 200
    giving = app.test_client()
    assert login(giving, giver.email).status_code == 302
    assert f'href="/certificates/{out_id}"' not in giving.get("/account").get_data(
        as_text=True)
    assert giving.get(f"/certificates/{out_id}").status_code == 404
    assert giving.get(f"/certificates/{in_id}").status_code == 404  # the taker's


def test_a_certificate_for_shares_since_withdrawn_says_it_is_superseded(app, client,
                                                                        login_as, admit):
    """QA: after 200 of 240 shares were withdrawn the certificate, page and PDF, still
    certified 240 with no mark."""
    admit(name="Part Member", shares=240)
    login_as("staff")
    assert "Superseded" not in client.get("/certificates/1").get_data(as_text=True)
    with app.app_context():
        from coop.register import services

        services.withdraw(_db.session, get_member(1), 200, on=london_today(), by=None)
        _db.session.commit()
    today = london_today()
    mark = (f"Superseded: on {today.day} {today:%B %Y}, 200 shares were withdrawn, and the "
            "member now holds 40.")
    assert mark in html.unescape(client.get("/certificates/1").get_data(as_text=True))
    assert mark in pdf_text(client.get("/certificates/1.pdf").data)
    # review: by the register's dates, not the order lines were entered in
    with app.app_context():
        from coop.register import services

        member = get_member(1)
        later = services.allot(_db.session, member, 10, on=today, by=None)
        services.withdraw(_db.session, member, 5, on=today - dt.timedelta(days=1), by=None)
        _db.session.commit()
        later_id = later.id
    page = html.unescape(client.get(f"/certificates/{later_id}").get_data(as_text=True))
    assert "Superseded" not in page  # the 5 left the day before it


def test_a_ceased_members_certificate_is_marked_cancelled(app, client, login_as, admit):
    """QA: a ceased member's certificate still read "is the registered holder of 250 fully
    paid shares" with no mark. It stays for the record, marked cancelled, page and PDF."""
    admit(name="Gone Member", shares=250)
    login_as("staff")
    assert "Cancelled" not in client.get("/certificates/1").get_data(as_text=True)
    with app.app_context():
        from coop.register import certificates, services

        member = get_member(1)
        services.cease(_db.session, member, on=london_today(), by=None, expected_shares=250)
        _db.session.commit()
        ceased_on = member.ceased_on
        line = _db.session.get(ShareTransaction, 1)
        text = certificates.wording(line, line.member, certificates.society(app.config))
    when = f"{ceased_on.day} {ceased_on:%B %Y}"
    # QA: "in People's Press Printing Society", where every other page says "the"
    assert f"in the {app.config['SOCIETY_NAME']}, " in text["statement"]
    assert text["cancelled"] == (f"Cancelled: this membership ceased on {when}, and these "
                                 "shares are no longer held. This copy is for the record only.")
    page = client.get("/certificates/1").get_data(as_text=True)
    assert f"Cancelled: this membership ceased on {when}" in page
    pdf = pdf_text(client.get("/certificates/1.pdf").data)
    assert f"Cancelled: this membership ceased on {when}" in pdf
    assert "is the registered holder of 250 fully paid shares" in pdf  # kept for the record


def test_pdf_certificate_holds_the_text(app, admit):
    admit(name="Siobhán Ní Bhriain", shares=1000)
    from coop.register import certificates

    with app.app_context():
        line = _db.session.get(ShareTransaction, 1)
        pdf = certificates.render_pdf(line, line.member, certificates.society(app.config))
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "This is to certify that Siobhán Ní Bhriain, membership number 000001" in text
    assert "1,000 fully paid shares of £1 each (£1,000)" in text
    assert "Cancelled" not in text


def pdf_text(pdf: bytes) -> str:
    """The PDF's text as a reader's viewer would copy it, lines joined with spaces."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_the_member_sees_their_membership_and_changes_their_address(app, client, make_user,
                                                                     admit):
    user = make_user("member", email="mine@example.org")
    admit(email="mine@example.org", shares=150)
    assert login(client, user.email).status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert "Your membership of the society" in page and "000001" in page
    assert "150 (£150)" in page and 'href="/certificates/1"' in page
    bad = client.post("/account/register/address", data={"address": "<b>x</b>"})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "can&#39;t contain &lt; or &gt;" in body
    assert "&lt;b&gt;x&lt;/b&gt;" in body  # what was typed is kept, escaped
    long = client.post("/account/register/address", data={"address": "x" * 700})
    assert long.status_code == 422
    ok = client.post("/account/register/address", data={"address": "9 New Road\nHull"})
    assert ok.status_code == 302
    with app.app_context():
        member = get_member(1)
        assert member.address == "9 New Road\nHull"
    staff = app.test_client()
    assert login(staff, make_user("staff").email).status_code == 302
    page = staff.get("/staff/register/1").get_data(as_text=True)
    assert "The member" in page and "9 New Road" in page and "1 Printers" in page


def test_a_member_not_in_the_register_has_no_section(client, login_as):
    login_as("member")
    assert "Your membership of the society" not in client.get("/account").get_data(as_text=True)
    assert client.post("/account/register/address", data={"address": "x"}).status_code == 404


def test_staff_link_an_account_made_after_admission(app, client, login_as, admit, make_user):
    admit(email="later@example.org", invite=False)
    login_as("staff")
    assert "Link the account" not in client.get("/staff/register/1").get_data(as_text=True)
    user = make_user("member", email="later@example.org")
    assert "Link the account later@example.org" in client.get(
        "/staff/register/1").get_data(as_text=True)
    assert client.post("/staff/register/1/link-account").status_code == 302
    with app.app_context():
        assert get_member(1).user_id == user.id


def test_verify_page(client, login_as, admit):
    admit()
    login_as("staff")
    assert "agrees with their share ledger" in client.get(
        "/staff/register/verify").get_data(as_text=True)


def test_staff_dashboard_links_the_register(client, login_as):
    login_as("staff")
    assert 'href="/staff/register"' in client.get("/staff").get_data(as_text=True)


def test_an_allotment_from_an_enquiry_links_to_it(app, client, login_as):
    from coop.register import services
    from coop.shares import services as shares

    with app.app_context():
        contact = shares.Contact(name="Ada Lovelace", email="ada@example.org",
                                 address="1 Road", postcode="EC4Y 1AA")
        enquiry_id = shares.submit(_db.session, "shares", contact, 25_000,
                                   payment_method="cheque").id
        services.admit(_db.session, name="Ada Lovelace", email="ada@example.org",
                       address="1 Road", shares=250, on=london_today(), by=None,
                       enquiry_id=enquiry_id)
        _db.session.commit()
    login_as("staff")
    page = client.get("/staff/register/1").get_data(as_text=True)
    assert f'href="/staff/enquiries/{enquiry_id}"' in page


def test_a_members_register_entry_follows_their_confirmed_new_email(app, make_user, outbox):
    """Changing the account's email (confirmed by the link) changes the register's, so the
    society's mail reaches them; a member whose entry staff recorded with another address
    keeps it."""
    import re as _re

    from coop.accounts.models import User
    from coop.audit import AuditEvent
    from coop.register import services
    from tests.conftest import PASSWORD

    user = make_user("member", email="reader@example.org")
    other = make_user("member", email="other@example.org")
    with app.app_context():
        services.admit(_db.session, name="Ann Reader", email="reader@example.org",
                       address="1 Road", shares=10, on=london_today(), by=None)
        recorded = services.admit(_db.session, name="Bo Other", email="bo.home@example.org",
                                  address="2 Road", shares=10, on=london_today(), by=None,
                                  invite=False)
        services.link_account(_db.session, recorded.member, _db.session.get(User, other.id),
                              by=None)
        _db.session.commit()
    for account, new in ((user, "reader.new@example.org"), (other, "other.new@example.org")):
        client = app.test_client()
        client.post("/login", data={"email": account.email, "password": PASSWORD})
        assert client.post("/account/email", data={"new_email": new, "email_password": PASSWORD}
                           ).status_code == 302
        [message] = [m for m in outbox() if m["To"] == new]
        path = _re.search(r"https?://\S+?(/account/email/confirm/\S+)",
                          message.get_content())[1]
        assert client.post(path).status_code == 302
    with app.app_context():
        emails = dict(_db.session.execute(sa.select(Member.name, Member.email)).all())
        assert emails == {"Ann Reader": "reader.new@example.org",
                          "Bo Other": "bo.home@example.org"}
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "register.email_changed")) == 1


def test_admitting_someone_whose_email_a_member_has_asks_first(app, client, login_as):
    """Two members with one email by a slip would be in the statutory register for good:
    the form names the member who has it, and admits a new one only when told it's someone
    else."""
    login_as("staff")
    data = {"name": "Ann Reader", "email": "ann@example.org", "address": "1 Road\nLeeds",
            "shares": "100", "on": TODAY}
    assert client.post("/staff/register/admit", data=data).status_code == 302
    again = client.post("/staff/register/admit",
                        data={**data, "name": "Ann Reader (again)", "email": " Ann@Example.org"})
    assert again.status_code == 422
    html = again.get_data(as_text=True)
    error_at = html.index('id="email-error"')
    assert "Member 000001, Ann Reader, has this email" in html[error_at:error_at + 300]
    assert 'name="different_person"' in html and "Ann Reader (again)" in html
    with app.app_context():
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 1
    other = client.post("/staff/register/admit", data={
        **data, "name": "Ann's daughter", "different_person": "y"})
    assert other.status_code == 302 and other.headers["Location"] == "/staff/register/2"


def test_a_cessation_refused_because_the_holding_changed_can_then_be_made(
        app, client, login_as, admit):
    """The form is drawn again for the holding as it is now (and the tick cleared, to look
    again), so sending it once more ceases the membership; before, it kept the old figure
    and was refused every time until the page was reloaded."""
    admit(shares=100)
    login_as("staff")
    page = client.get("/staff/register/1/cease").get_data(as_text=True)
    assert 'name="expected_shares" type="hidden" value="100"' in page
    client.post("/staff/register/1/allot", data={"shares": "5", "on": TODAY})  # meanwhile
    refused = client.post("/staff/register/1/cease", data={"on": TODAY, "expected_shares": "100",
                                                          "confirm": "y"})
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "holding changed while you had this form open" in body
    assert 'name="expected_shares" type="hidden" value="105"' in body
    [tick] = re.findall(r'<input[^>]*name="confirm"[^>]*>', body)
    assert "checked" not in tick
    again = client.post("/staff/register/1/cease", data={"on": TODAY, "expected_shares": "105",
                                                        "confirm": "y"})
    assert again.status_code == 302
    with app.app_context():
        assert get_member(1).ceased_on is not None and get_member(1).shares_held == 0


def test_staff_correct_a_members_name_or_email_with_a_reason(app, client, login_as, admit):
    admit(shares=10, name="Ann Reeder", email="ann@exmaple.org")
    staff = login_as("staff")
    page = client.get("/staff/register/1").get_data(as_text=True)
    assert 'href="/staff/register/1/details"' in page
    form = client.get("/staff/register/1/details").get_data(as_text=True)
    assert 'value="Ann Reeder"' in form and 'value="ann@exmaple.org"' in form
    # refused at its field, what was typed kept, nothing saved
    bad = client.post("/staff/register/1/details", data={
        "name": "Ann Reader", "email": "not an email", "reason": "Typo at admission"})
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert 'id="email-error"' in body and 'value="Ann Reader"' in body
    no_reason = client.post("/staff/register/1/details", data={
        "name": "Ann Reader", "email": "ann@example.org", "reason": ""})
    assert no_reason.status_code == 422 and "Say why the entry is corrected" in \
        no_reason.get_data(as_text=True)
    with app.app_context():
        assert (get_member(1).name, get_member(1).email) == ("Ann Reeder", "ann@exmaple.org")
    done = client.post("/staff/register/1/details", data={
        "name": "Ann Reader", "email": " Ann@Example.org ", "reason": "Typo at admission"})
    assert done.status_code == 302
    with app.app_context():
        assert (get_member(1).name, get_member(1).email) == ("Ann Reader", "ann@example.org")
        from coop.audit import AuditEvent

        entry = _db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.action == "register.details_corrected"))
        assert entry.actor_id == staff.id
        assert entry.details["before"] == {"name": "Ann Reeder", "email": "ann@exmaple.org"}
        assert entry.details["reason"] == "Typo at admission"
    same = client.post("/staff/register/1/details", data={
        "name": "Ann Reader", "email": "ann@example.org", "reason": "Again"},
        follow_redirects=True)
    assert "nothing changed" in same.get_data(as_text=True)


def test_an_entry_stored_with_an_accented_address_can_still_be_corrected(app, client, login_as,
                                                                         admit):
    """An address stored before the rule that refuses accents before the @ ("zoë@…") is given
    back unchanged by the correction form: it doesn't stop staff correcting the name; a new
    accented address is still refused."""
    admit(shares=10, name="Zoe Fox", email="zoe@example.org")
    with app.app_context():
        get_member(1)  # stored as an older version of the app allowed
        _db.session.execute(sa.text("UPDATE register_members SET email = 'zoë@example.org'"))
        _db.session.commit()
    login_as("staff")
    done = client.post("/staff/register/1/details", data={
        "name": "Zoë Fox", "email": "zoë@example.org", "reason": "Accent in her name"})
    assert done.status_code == 302, done.get_data(as_text=True)
    with app.app_context():
        assert (get_member(1).name, get_member(1).email) == ("Zoë Fox", "zoë@example.org")
    other = client.post("/staff/register/1/details", data={
        "name": "Zoë Fox", "email": "zoë.fox@example.org", "reason": "New address"})
    assert other.status_code == 422
    assert "before the @" in other.get_data(as_text=True)


def test_a_staff_page_drawn_before_the_member_changed_their_address_saves_nothing(
        app, client, login_as, admit):
    """QA: staff had the address form open, the member saved a new address on /account, and
    staff's older page put the old address back without a word. Refused, with what was typed;
    sent again from the page as it is now, it is saved."""
    from coop.forms import EDITED_MEANWHILE
    from coop.register import services

    admit(shares=10, name="Ann Reader", email="ann@example.org")
    login_as("staff")
    seen = {}
    for action in ("address", "details"):
        page = client.get(f"/staff/register/1/{action}").get_data(as_text=True)
        seen[action] = re.search(r'name="seen"[^>]*value="([^"]+)"', page).group(1)
    with app.app_context():
        member = get_member(1)
        services.change_address(_db.session, member, "22 New Road\nLeeds\nLS1 1AA", by=None,
                                source="member")
        _db.session.commit()
    sent = {"address": "1 Old Street\nHull HU1 1AA", "seen": seen["address"]}
    stale = client.post("/staff/register/1/address", data=sent)
    assert stale.status_code == 422
    text = html.unescape(stale.get_data(as_text=True))
    assert EDITED_MEANWHILE in text and "1 Old Street" in text
    with app.app_context():
        assert get_member(1).address == "22 New Road\nLeeds\nLS1 1AA"
    fresh = re.search(r'name="seen"[^>]*value="([^"]+)"', stale.get_data(as_text=True)).group(1)
    assert client.post("/staff/register/1/address",
                       data={**sent, "seen": fresh}).status_code == 302
    with app.app_context():
        assert get_member(1).address == "1 Old Street\nHull HU1 1AA"
    # the name and email: drawn before the address changed, still the same entry's
    assert client.post("/staff/register/1/details", data={
        "name": "Ann Reeder", "email": "ann@example.org", "reason": "Typo",
        "seen": seen["details"]}).status_code == 302
    drawn = re.search(r'name="seen"[^>]*value="([^"]+)"',
                      client.get("/staff/register/1/details").text).group(1)
    with app.app_context():
        member = get_member(1)
        member.email = "ann.new@example.org"  # as a confirmed change of email does
        _db.session.commit()
    stale = client.post("/staff/register/1/details", data={
        "name": "Ann Reader", "email": "ann@example.org", "reason": "Typo", "seen": drawn})
    assert stale.status_code == 422 and EDITED_MEANWHILE in html.unescape(stale.text)
    with app.app_context():
        assert get_member(1).email == "ann.new@example.org"
