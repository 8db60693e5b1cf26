"""Staff correcting an enquiry's contact details (``/staff/enquiries/<id>/contact``): by the
public form's rules, with a reason in the notes; a corrected email is sent the
acknowledgement again and what still waited to go to the old one is dropped."""

from __future__ import annotations

import html

import sqlalchemy as sa

from coop.audit import AuditEvent
from coop.extensions import db as _db
from coop.outbox import OutboxMessage
from coop.shares import services
from coop.shares.models import Enquiry
from tests.conftest import login
from tests.shares.conftest import share_form


def contact_form(**overrides) -> dict:
    data = {"name": "Ada Lovelace", "email": "ada@example.org", "phone": "",
            "address": "1 Fleet Street\nLondon", "postcode": "EC4Y 1AA", "country": "GB",
            "reason": "Typo, confirmed on the phone"}
    data.update(overrides)
    return data


def _enquiry(app, enquiry_id: int) -> Enquiry:
    with app.app_context():
        enquiry = _db.session.get(Enquiry, enquiry_id)
        _ = enquiry.notes
        _db.session.expunge(enquiry)
        return enquiry


def _mail(app, enquiry: Enquiry) -> list[tuple[str, str]]:
    with app.app_context():
        return [(m.to_address, m.status) for m in _db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.about == enquiry.reference)
            .order_by(OutboxMessage.id))]


def test_a_bounced_email_is_corrected_and_the_acknowledgement_goes_to_the_new_one(
        make_app, smtp_server, closed_port, make_user):
    dead = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=closed_port, MAIL_TIMEOUT=2)
    dead.test_client().post("/shares", data=share_form(email="zoe@exampel.org"))
    with dead.app_context():
        enquiry = _db.session.scalar(sa.select(Enquiry))
        assert enquiry.email_failed
    assert _mail(dead, enquiry) == [("zoe@exampel.org", "pending")]
    staff = make_user("staff")

    live = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    client = live.test_client()
    login(client, staff.email)
    page = client.get(f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
    assert f'href="/staff/enquiries/{enquiry.id}/contact"' in page
    form = client.get(f"/staff/enquiries/{enquiry.id}/contact").get_data(as_text=True)
    assert 'value="zoe@exampel.org"' in form and "EC1A 1BB" in form  # drawn as saved

    response = client.post(f"/staff/enquiries/{enquiry.id}/contact", data=contact_form(
        name=enquiry.name, email="zoe@example.org", phone="020 7946 0000",
        address=enquiry.address, postcode="EC1A 1BB",
        reason="Email bounced: she spelled it out on the phone"), follow_redirects=True)

    page = html.unescape(response.get_data(as_text=True))
    assert "Corrected the email." in page
    assert "The acknowledgement is on its way to zoe@example.org." in page
    saved = _enquiry(live, enquiry.id)
    assert saved.email == "zoe@example.org" and not saved.email_failed
    # the undelivered copy to the mistyped address is gone; the new one was delivered
    assert _mail(live, enquiry) == [("zoe@example.org", "sent")]
    [message] = smtp_server.messages
    assert message["To"] == "zoe@example.org" and enquiry.reference in message["Subject"]
    [note] = saved.notes
    assert note.body == ("Contact details corrected (email): Email bounced: she spelled it "
                         "out on the phone")
    with live.app_context():
        [event] = _db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "enquiry.contact_corrected")).all()
        assert event.subject_id == enquiry.reference and event.actor_id == staff.id
        assert "exampel" not in str(event.details) and "example.org" not in str(event.details)
        assert event.details["fields"] == ["email"]


def test_a_delivered_acknowledgement_stays_on_record_and_a_new_one_is_sent(
        client, login_as, make_enquiry, outbox):
    enquiry = make_enquiry(email="ada@example.org")
    with client.application.app_context():
        from coop.shares import mail

        mail.send_acknowledgement(_db.session, _db.session.get(Enquiry, enquiry.id))
    login_as("staff")
    response = client.post(f"/staff/enquiries/{enquiry.id}/contact",
                           data=contact_form(email="ada.lovelace@example.org",
                                             phone="+44 20 7946 0000"))
    assert response.status_code == 302
    assert _mail(client.application, enquiry) == [("ada@example.org", "sent"),
                                                  ("ada.lovelace@example.org", "sent")]
    assert [m["To"] for m in outbox()] == ["ada@example.org", "ada.lovelace@example.org"]
    saved = _enquiry(client.application, enquiry.id)
    assert saved.phone == "+44 20 7946 0000"
    assert saved.notes[0].body.startswith("Contact details corrected (email and phone): ")


def test_other_details_change_without_mail(client, login_as, make_enquiry, outbox):
    enquiry = make_enquiry()
    login_as("staff")
    response = client.post(f"/staff/enquiries/{enquiry.id}/contact", data=contact_form(
        name="Augusta Ada King", email="ADA@example.org", address="2 Fleet Street\nLondon",
        postcode="ec4y1aa", country="GB"), follow_redirects=True)
    assert "Corrected the name, email and address." in html.unescape(
        response.get_data(as_text=True))
    saved = _enquiry(client.application, enquiry.id)
    assert (saved.name, saved.email, saved.address, saved.postcode) == (
        "Augusta Ada King", "ADA@example.org", "2 Fleet Street\nLondon", "EC4Y 1AA")
    assert outbox() == []  # the same address in other letters: no new acknowledgement


def test_nothing_changed_adds_no_note(client, login_as, make_enquiry):
    enquiry = make_enquiry()
    login_as("staff")
    response = client.post(f"/staff/enquiries/{enquiry.id}/contact", data=contact_form(),
                           follow_redirects=True)
    assert "Those are already the details: nothing changed." in html.unescape(
        response.get_data(as_text=True))
    assert _enquiry(client.application, enquiry.id).notes == []


def test_bad_input_is_shown_at_its_field_with_what_was_typed(client, login_as, make_enquiry):
    enquiry = make_enquiry()
    login_as("staff")
    for data, message, kept in (
        (contact_form(email="not an address"), "Enter an email address like name@example.com.",
         'value="not an address"'),
        (contact_form(postcode="nowhere"), "Enter a UK postcode, like SW1A 1AA.",
         'value="nowhere"'),
        (contact_form(name="<b>Ada</b>", reason="x"), "", "&lt;b&gt;Ada&lt;/b&gt;"),
        (contact_form(reason="  "), "Say why the details are corrected.", ""),
        (contact_form(reason="x" * 501), "The reason can be at most 500 characters.", ""),
        (contact_form(country="XX"), "Choose one of the options", ""),
    ):
        response = client.post(f"/staff/enquiries/{enquiry.id}/contact",
                               data={**data, "email": data["email"]})
        assert response.status_code == 422, data
        page = html.unescape(response.get_data(as_text=True))
        assert message in page
        assert kept in response.get_data(as_text=True)
        assert 'href="#' in page  # the error summary links to the field
    saved = _enquiry(client.application, enquiry.id)
    assert (saved.email, saved.postcode, saved.name) == ("ada@example.org", "EC4Y 1AA",
                                                         "Ada Lovelace")
    assert saved.notes == []


def test_admitted_and_erased_enquiries_are_not_corrected_here(app, client, login_as,
                                                              make_enquiry):
    admitted, erased = make_enquiry(), make_enquiry(email="bo@example.org")
    staff = login_as("staff")
    with app.app_context():
        _db.session.get(Enquiry, admitted.id).status = "admitted"
        services.erase(_db.session, _db.session.get(Enquiry, erased.id), by=staff.id)
        _db.session.commit()
    for enquiry, message in ((admitted, "correct the member's details in the register"),
                             (erased, "there are no details to correct")):
        url = f"/staff/enquiries/{enquiry.id}/contact"
        assert client.get(url).status_code == 302
        response = client.post(url, data=contact_form(email="new@example.org"),
                               follow_redirects=True)
        assert message in html.unescape(response.get_data(as_text=True))
        assert _enquiry(app, enquiry.id).email != "new@example.org"
        page = client.get(f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
        assert f"/staff/enquiries/{enquiry.id}/contact" not in page
    with app.app_context():  # the service holds the rule too
        for enquiry_id in (admitted.id, erased.id):
            try:
                services.correct_contact(
                    _db.session, _db.session.get(Enquiry, enquiry_id),
                    services.Contact("A", "a@example.org", "1 Street", "EC4Y 1AA"),
                    reason="r", by=None)
            except services.EnquiryError:
                pass
            else:
                raise AssertionError("corrected")


def test_a_closed_enquiry_is_corrected_without_a_new_acknowledgement(
        app, client, login_as, make_enquiry, outbox):
    enquiry = make_enquiry()
    login_as("staff")
    with app.app_context():
        _db.session.get(Enquiry, enquiry.id).status = "withdrawn"
        _db.session.commit()
    page = client.get(f"/staff/enquiries/{enquiry.id}/contact").get_data(as_text=True)
    assert "a new email address is not sent the acknowledgement" in page
    response = client.post(f"/staff/enquiries/{enquiry.id}/contact",
                           data=contact_form(email="ada2@example.org"), follow_redirects=True)
    page = html.unescape(response.get_data(as_text=True))
    assert "Corrected the email." in page and "on its way" not in page
    assert outbox() == []


def test_only_staff_correct_details(client, login_as, make_enquiry):
    enquiry = make_enquiry()
    url = f"/staff/enquiries/{enquiry.id}/contact"
    assert client.get(url).status_code == 302  # to the login page
    assert client.post(url, data=contact_form(email="x@example.org")).status_code in (302, 400)
    login_as("member")
    assert client.get(url).status_code == 403
    assert client.post(url, data=contact_form(email="x@example.org")).status_code == 403
    assert _enquiry(client.application, enquiry.id).email == "ada@example.org"


def test_mail_in_flight_to_the_old_address_no_longer_counts(app, make_app, closed_port,
                                                            make_user):
    """A message a worker is sending at the moment of the correction is left to finish; if
    it then fails, it is not the enquiry's failure (it was to an address since corrected).
    One taken by a worker that died is dropped with the rest."""
    import datetime as dt

    from coop import outbox as box

    dead = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=closed_port, MAIL_TIMEOUT=2)
    dead.test_client().post("/shares", data=share_form(email="zoe@exampel.org"))
    with dead.app_context():
        enquiry = _db.session.scalar(sa.select(Enquiry))
        reference = enquiry.reference
        [row] = box.about(_db.session, enquiry.reference)
        row.last_error = ""
        row.next_attempt_at = box.now_utc()
        _db.session.commit()
        assert box.claim(_db.session, row.id)  # a worker has it now
        _db.session.commit()
        services.correct_contact(
            _db.session, _db.session.get(Enquiry, enquiry.id),
            services.Contact(enquiry.name, "zoe@example.org", enquiry.address, "EC1A 1BB"),
            reason="Typo", by=None)
        _db.session.commit()
        in_flight = _db.session.get(box.OutboxMessage, row.id)
        assert in_flight is not None and in_flight.status == "sending"
        box.record_failure(_db.session, in_flight, "421 try later")  # the worker's send fails
        _db.session.commit()
        saved = _db.session.get(Enquiry, enquiry.id)
        _db.session.refresh(saved)
        assert saved.email_failed is False
        # a worker that died holding it: dropped by the next correction
        in_flight.status, in_flight.claimed_until = "sending", box.now_utc() - dt.timedelta(
            seconds=1)
        saved.email = "zoe@exampel.org"
        _db.session.commit()
        services.correct_contact(
            _db.session, saved,
            services.Contact(saved.name, "zoe@example.org", saved.address, "EC1A 1BB"),
            reason="Typo", by=None)
        _db.session.commit()
        assert box.about(_db.session, reference) == []  # dropped


def test_a_closed_enquiry_says_no_acknowledgement_went_to_the_corrected_address(
        make_app, closed_port, make_user):
    dead = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=closed_port, MAIL_TIMEOUT=2)
    dead.test_client().post("/shares", data=share_form(email="zoe@exampel.org"))
    with dead.app_context():
        enquiry = _db.session.scalar(sa.select(Enquiry))
        enquiry.status = "withdrawn"
        _db.session.commit()
        _db.session.refresh(enquiry)
        _db.session.expunge(enquiry)
    client = dead.test_client()
    login(client, make_user("staff").email)
    assert "<dt>Acknowledgement</dt><dd>Not delivered yet</dd>" in client.get(
        f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
    client.post(f"/staff/enquiries/{enquiry.id}/contact", data=contact_form(
        name=enquiry.name, email="zoe@example.org", address=enquiry.address,
        postcode="EC1A 1BB"))
    page = client.get(f"/staff/enquiries/{enquiry.id}").get_data(as_text=True)
    assert "<dt>Acknowledgement</dt><dd>Not sent</dd>" in page
    assert _mail(dead, enquiry) == []


def test_an_admission_committed_meanwhile_wins(app, make_enquiry):
    """The page was read before another member of staff admitted the enquiry: the
    correction is refused rather than changing details the register now keeps."""
    enquiry = make_enquiry()
    with app.app_context():
        stale = _db.session.get(Enquiry, enquiry.id)
        assert stale.status == "new"
        with _db.engine.begin() as other:  # the other member of staff's admission
            other.execute(sa.text("UPDATE share_enquiries SET status = 'admitted' "
                                  "WHERE id = :id"), {"id": enquiry.id})
        try:
            services.correct_contact(_db.session, stale, services.Contact(
                "Ada Lovelace", "new@example.org", "1 Fleet Street\nLondon", "EC4Y 1AA"),
                reason="r", by=None)
        except services.EnquiryError as err:
            assert "admitted or erased meanwhile" in str(err)
        else:
            raise AssertionError("corrected an admitted enquiry")
        _db.session.rollback()
    assert _enquiry(app, enquiry.id).email == "ada@example.org"


def test_a_post_missing_fields_is_refused_not_read_as_unchanged(client, login_as,
                                                                make_enquiry):
    enquiry = make_enquiry()
    login_as("staff")
    response = client.post(f"/staff/enquiries/{enquiry.id}/contact",
                           data={"reason": "x"})
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "Enter your full name." in page and "Enter your email address." in page


def test_an_account_s_enquiry_says_it_stays_with_the_account(app, client, login_as, make_user,
                                                            make_enquiry):
    owner = make_user("member", email="mo@example.org")
    enquiry = make_enquiry(user=owner, email="mo@example.org")
    login_as("staff")
    page = client.get(f"/staff/enquiries/{enquiry.id}/contact").get_data(as_text=True)
    assert "It belongs to the account mo@example.org, and stays with it" in page
    client.post(f"/staff/enquiries/{enquiry.id}/contact",
                data=contact_form(email="mo.other@example.org"))
    saved = _enquiry(app, enquiry.id)
    assert saved.email == "mo.other@example.org" and saved.user_id == owner.id
