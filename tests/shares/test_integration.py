"""The shares feature working with the others: the newsletter's double opt-in, and the
account page's "download my data" and "delete my account"."""

from __future__ import annotations

import json

import sqlalchemy as sa

from coop.extensions import db as _db
from coop.shares.models import Enquiry
from tests.conftest import delete_my_account
from tests.shares.conftest import share_form, support_form


def test_newsletter_opt_in_goes_through_the_real_double_opt_in(app, client, outbox):
    from coop.newsletter.models import Consent, Subscriber

    client.post("/shares", data=share_form(newsletter_opt_in="y"))
    client.post("/support", data=support_form(email="quiet@example.org"))
    with app.app_context():
        [subscriber] = _db.session.scalars(sa.select(Subscriber)).all()
        assert subscriber.email == "zoe@example.org"
        assert subscriber.status == "pending"  # nothing is sent until they confirm
        consent = _db.session.scalar(sa.select(Consent).where(
            Consent.subscriber_id == subscriber.id))
        assert consent.source == "shares-form"
        assert "Send me the newsletter too" in consent.wording
    subjects = [m["Subject"] for m in outbox()]
    assert any("confirm" in s.lower() for s in subjects), subjects
    assert sum("reference" in s for s in subjects) == 2  # both acknowledgements


def test_download_my_data_includes_my_enquiries(client, login_as):
    member = login_as("member")
    client.post("/shares", data=share_form(email=member.email))
    response = client.post("/account/data")
    assert response.status_code == 200
    data = json.loads(response.get_data(as_text=True))
    [row] = data["share_enquiries"]
    assert row["email"] == member.email and row["reference"].startswith("SH-")
    assert row["amount_pence"] == 25_000


def test_deleting_the_account_erases_finished_enquiries_and_keeps_open_ones(
        app, client, login_as, make_user):
    """A finished enquiry is erased with the account; one still open (a cheque may be in the
    post) stays for staff to finish, no longer tied to the account, and says so."""
    member = login_as("member")
    client.post("/shares", data=share_form(email=member.email))
    client.post("/support", data=support_form(email=member.email))
    with app.app_context():
        finished = _db.session.scalar(sa.select(Enquiry).where(Enquiry.kind == "supporter"))
        finished.status = "completed"
        _db.session.commit()
    page = client.get("/account").get_data(as_text=True)
    assert "one still open (a payment on its way, say) stays with the society" in page
    response = delete_my_account(client)
    assert response.status_code == 302
    with app.app_context():
        erased = _db.session.scalar(sa.select(Enquiry).where(Enquiry.kind == "supporter"))
        assert erased.is_erased and erased.user_id is None
        assert erased.email == "" and erased.name == ""
        assert erased.amount_pence == 1_250 and erased.kind == "supporter"
        kept = _db.session.scalar(sa.select(Enquiry).where(Enquiry.kind == "shares"))
        assert not kept.is_erased and kept.user_id is None and kept.email == member.email
        kept_id = kept.id
    staff = app.test_client()
    from tests.conftest import login

    login(staff, make_user("staff").email)
    page = staff.get(f"/staff/enquiries/{kept_id}").get_data(as_text=True)
    assert "None (the account has been deleted)" in page
    assert "The reader deleted their account." in page
    assert "Record the payment" in page  # staff can still finish it
