"""Enquiry rules without HTTP: saving, references, workflow, notes, erasure, purge, inbox."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
import sqlalchemy as sa

from coop.audit import AuditEvent
from coop.shares import services
from coop.shares.models import Enquiry, Note, Status, StatusChange

UTC = dt.UTC


def contact(**overrides) -> services.Contact:
    values = {"name": "Ada Lovelace", "email": "ada@example.org",
              "address": "1 Fleet Street\nLondon", "postcode": "ec4y 1aa", "country": "GB"}
    values.update(overrides)
    return services.Contact(**values)


def submit(db, kind="shares", amount=10_000, **kwargs):
    kwargs.setdefault("payment_method" if kind == "shares" else "frequency",
                      "cheque" if kind == "shares" else "monthly")
    return services.submit(db.session, kind, kwargs.pop("contact", contact()), amount, **kwargs)


def test_submit_saves_and_gives_a_reference(db):
    enquiry = submit(db, now=dt.datetime(2022, 6, 1, 12, tzinfo=UTC))
    db.session.commit()
    assert enquiry.reference == f"SH-2022-{enquiry.id:06d}"
    assert enquiry.status == "new"
    assert enquiry.postcode == "EC4Y 1AA"
    assert enquiry.contact_consent_at == dt.datetime(2022, 6, 1, 12, tzinfo=UTC)
    assert enquiry.newsletter_opt_in is False and enquiry.newsletter_consent_at is None
    supporter = submit(db, "supporter", 1250, now=dt.datetime(2022, 6, 1, 12, tzinfo=UTC))
    assert supporter.reference == f"SU-2022-{supporter.id:06d}"
    assert supporter.frequency == "monthly" and supporter.payment_method is None


def test_an_address_line_that_shows_nothing_is_no_line(db):
    """Review: the forms blank only a whole value that shows nothing (for Markdown's sake),
    so an enquiry's address kept a line holding a zero-width space."""
    enquiry = submit(db, contact=contact(address="\u200b\n1 Fleet Street\n\ufeff\nLondon"))
    assert enquiry.address == "1 Fleet Street\nLondon"
    with pytest.raises(services.EnquiryError, match="Enter your full name"):
        submit(db, contact=contact(name="\u200b\u200b"))


def test_reference_year_is_the_year_in_london(db):
    """London is on GMT at New Year, so what matters is that the zone of the input is not."""
    enquiry = submit(db, now=dt.datetime(2022, 12, 31, 23, 59, tzinfo=UTC))
    assert enquiry.reference.startswith("SH-2022-")
    paris = dt.timezone(dt.timedelta(hours=1))
    enquiry = submit(db, now=dt.datetime(2023, 1, 1, 0, 30, tzinfo=paris))
    assert enquiry.reference.startswith("SH-2022-")  # 23:30 on 31 Dec in London


def test_newsletter_opt_in_records_consent_time(db):
    now = dt.datetime(2024, 3, 1, 9, tzinfo=UTC)
    enquiry = submit(db, newsletter_opt_in=True, now=now)
    assert enquiry.newsletter_opt_in is True
    assert enquiry.newsletter_consent_at == now


@pytest.mark.parametrize("typed, expected", [
    ("sw1a1aa", "SW1A 1AA"), ("SW1A 1AA", "SW1A 1AA"), ("m1 1ae", "M1 1AE"),
    ("B33 8TH", "B33 8TH"), ("CR2 6XH", "CR2 6XH"), ("DN55 1PT", "DN55 1PT"),
    ("W1A 0AX", "W1A 0AX"), ("EC1A 1BB", "EC1A 1BB"), ("  ec1a   1bb ", "EC1A 1BB"),
])
def test_uk_postcodes_of_the_right_shape(typed, expected):
    assert services.normalise_uk_postcode(typed) == expected


@pytest.mark.parametrize("typed", ["", "12345", "SW1A", "SW1A 1A", "QW1 1AA", "SW1A 1AAA",
                                   "<b>1</b>", "1AA SW1", "D08 X2Y3"])
def test_uk_postcodes_of_the_wrong_shape(typed):
    assert services.normalise_uk_postcode(typed) is None


def test_uk_address_needs_a_uk_postcode(db):
    with pytest.raises(services.EnquiryError, match="UK postcode"):
        submit(db, contact=contact(postcode="90210"))


def test_other_countries_keep_their_postcode(db):
    enquiry = submit(db, contact=contact(country="IE", postcode="D08 X2Y3"))
    assert enquiry.postcode == "D08 X2Y3" and enquiry.country == "IE"
    enquiry = submit(db, contact=contact(country="FR", postcode=""))
    assert enquiry.postcode == ""


def test_unknown_country_is_refused(db):
    with pytest.raises(services.EnquiryError, match="country"):
        submit(db, contact=contact(country="XX"))


@pytest.mark.parametrize("amount, message", [
    (50, "least"), (10_050, "whole number"), (0, "least"), (-100, "least"),
])
def test_share_amounts(db, amount, message):
    with pytest.raises(services.EnquiryError, match=message):
        submit(db, amount=amount)


def test_share_amount_above_the_maximum(db):
    with pytest.raises(services.EnquiryError, match="most"):
        submit(db, amount=200_00, max_pence=100_00)


def test_supporter_amount_may_have_pence(db):
    assert submit(db, "supporter", 1250).amount_pence == 1250


def test_database_refuses_pence_on_shares(db):
    enquiry = submit(db)
    db.session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(Enquiry).where(Enquiry.id == enquiry.id)
                           .values(amount_pence=1050))
    db.session.rollback()


def test_service_refuses_overlong_values(db):
    with pytest.raises(services.EnquiryError, match="at most 200"):
        submit(db, contact=contact(name="x" * 201))
    with pytest.raises(services.EnquiryError, match="at most 500"):
        submit(db, contact=contact(address="x" * 501))
    assert Enquiry.__table__.c.name.type.length == 200
    assert Enquiry.__table__.c.email.type.length == 254


@pytest.mark.parametrize("column, limit", [
    ("name", 200), ("email", 254), ("phone", 40), ("address", 500), ("postcode", 16),
    ("member_number", 20),
])
def test_database_refuses_overlong_values_on_every_engine(db, column, limit):
    enquiry = submit(db)
    db.session.commit()
    update = sa.update(Enquiry).where(Enquiry.id == enquiry.id)
    db.session.execute(update.values({column: "é" * limit}))  # at the limit is fine
    with pytest.raises((sa.exc.IntegrityError, sa.exc.DataError)):
        db.session.execute(update.values({column: "é" * (limit + 1)}))
    db.session.rollback()


def test_database_refuses_an_overlong_note(db):
    enquiry = submit(db)
    db.session.commit()
    with pytest.raises((sa.exc.IntegrityError, sa.exc.DataError)):
        db.session.add(Note(enquiry_id=enquiry.id, body="x" * 2001))
        db.session.flush()
    db.session.rollback()


def test_member_number_only_when_already_a_holder(db):
    assert submit(db, existing_holder=False, member_number="M1").member_number == ""
    assert submit(db, existing_holder=True, member_number=" M1 ").member_number == "M1"


def test_names_in_any_script(db):
    for name in ("Ó Súilleabháin", "Zoë", "王秀英", "Анна Ахматова", "عمر"):
        assert submit(db, contact=contact(name=name)).name == name


def test_references_are_unique_under_concurrent_submissions(app):
    """Eight readers press "send" at the same moment, each in their own session."""
    from coop.extensions import db

    count = 8
    barrier = threading.Barrier(count)
    references, errors = [], []

    def worker(i: int):
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                enquiry = services.submit(
                    db.session, "shares" if i % 2 else "supporter",
                    contact(email=f"reader{i}@example.org"), 100 * (i + 1),
                    payment_method="cheque", frequency="one_off",
                )
                db.session.commit()
                references.append(enquiry.reference)
                db.session.remove()
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(references) == count
    assert len(set(references)) == count
    numbers = {ref.rsplit("-", 1)[1] for ref in references}
    assert len(numbers) == count
    assert all(re.fullmatch(r"S[HU]-\d{4}-\d{6}", ref) for ref in references)


def test_supporter_workflow_new_contacted_paid_completed(db, make_user):
    staff = db.session.merge(make_user("staff"))
    enquiry = submit(db, kind="supporter", amount=1250,
                     now=dt.datetime(2024, 1, 1, 9, tzinfo=UTC))
    t1 = dt.datetime(2024, 1, 2, 9, tzinfo=UTC)
    services.change_status(db.session, enquiry, "contacted", by=staff, now=t1)
    t2 = t1 + dt.timedelta(days=2)
    services.record_payment(db.session, enquiry, amount_pence=1250,
                            received_on=dt.date(2024, 1, 3), method="bank_transfer", by=staff,
                            now=t2)
    t3 = t1 + dt.timedelta(days=3)
    services.change_status(db.session, enquiry, Status.COMPLETED, by=staff, now=t3)
    db.session.commit()
    assert enquiry.status == "completed" and enquiry.closed_at == t3
    assert (enquiry.paid_pence, enquiry.paid_on, enquiry.paid_method) == (
        1250, dt.date(2024, 1, 3), "bank_transfer")
    history = [(c.old_status, c.new_status, c.by_id, c.at, c.detail) for c in enquiry.changes]
    assert history == [
        ("new", "contacted", staff.id, t1, ""),
        ("contacted", "payment_received", staff.id, t2,
         "£12.50 by bank transfer, received 3 January 2024"),
        ("payment_received", "completed", staff.id, t3, ""),
    ]
    actions = db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.subject_id == enquiry.reference)).all()
    assert actions.count("enquiry.status_changed") == 3
    assert actions.count("enquiry.payment_recorded") == 1


@pytest.mark.parametrize("path, bad", [
    ([], "completed"), ([], "admitted"), ([], "new"), (["contacted"], "new"),
    (["declined"], "contacted"), (["withdrawn"], "declined"), (["contacted"], "completed"),
    ([], "archived"), ([], "payment_received"),
])
def test_workflow_refuses_other_moves(db, make_user, path, bad):
    staff = db.session.merge(make_user("staff"))
    enquiry = submit(db)
    for status in path:
        services.change_status(db.session, enquiry, status, by=staff)
    with pytest.raises(services.InvalidTransition):
        services.change_status(db.session, enquiry, bad, by=staff)


def test_new_can_be_declined(db, make_user):
    staff = db.session.merge(make_user("staff"))
    enquiry = submit(db)
    services.change_status(db.session, enquiry, "declined", by=staff)
    assert enquiry.is_closed and enquiry.closed_at is not None


def test_notes(db, make_user):
    staff = db.session.merge(make_user("staff"))
    enquiry = submit(db)
    services.add_note(db.session, enquiry, "  Rang them; call back Friday. ", by=staff)
    assert [n.body for n in enquiry.notes] == ["Rang them; call back Friday."]
    with pytest.raises(services.EnquiryError):
        services.add_note(db.session, enquiry, "   ", by=staff)
    with pytest.raises(services.EnquiryError):
        services.add_note(db.session, enquiry, "x" * 2001, by=staff)


def test_erase_keeps_statistics_and_removes_the_person(db, make_user):
    staff = db.session.merge(make_user("staff"))
    member = db.session.merge(make_user("member"))
    enquiry = submit(db, contact=contact(phone="0161 496 0000"), user=member,
                     existing_holder=True, member_number="M-1")
    services.add_note(db.session, enquiry, "Lives next to the printworks", by=staff)
    services.change_status(db.session, enquiry, "contacted", by=staff,
                           reason="Rang Ada at her sister's in Hull")
    db.session.commit()
    reference, created = enquiry.reference, enquiry.created_at
    assert services.erase(db.session, enquiry, by=staff) is True
    db.session.commit()
    db.session.expire_all()
    enquiry = services.get_by_reference(db.session, reference)
    assert (enquiry.name, enquiry.email, enquiry.phone, enquiry.address, enquiry.postcode,
            enquiry.country, enquiry.member_number) == ("", "", "", "", "", "", "")
    assert enquiry.user_id is None
    assert enquiry.kind == "shares" and enquiry.amount_pence == 10_000
    assert enquiry.status == "contacted" and enquiry.created_at == created
    assert enquiry.erased_at is not None
    assert db.session.scalar(sa.select(sa.func.count(Note.id))) == 0
    # the move stays, without what staff typed about it
    assert db.session.execute(sa.select(StatusChange.new_status, StatusChange.detail)).all() == [
        ("contacted", "")]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "enquiry.erased"))
    assert event.subject_id == reference and event.actor_id == staff.id
    assert "Ada" not in str(event.details) and "ada@" not in str(event.details)
    assert services.erase(db.session, enquiry, by=staff) is False  # once only


def test_purge_erases_only_closed_and_old(db):
    now = dt.datetime(2025, 6, 1, tzinfo=UTC)
    old = now - dt.timedelta(days=400)
    done_old = submit(db, contact=contact(email="a@example.org"), now=old)
    declined_old = submit(db, contact=contact(email="b@example.org"), now=old)
    open_old = submit(db, contact=contact(email="c@example.org"), now=old)
    done_recent = submit(db, contact=contact(email="d@example.org"), now=old)
    services.change_status(db.session, done_old, "contacted", by=None, now=old)
    services.change_status(db.session, done_old, "withdrawn", by=None, now=old)
    services.change_status(db.session, declined_old, "declined", by=None, now=old)
    services.change_status(db.session, open_old, "contacted", by=None, now=old)
    services.change_status(db.session, done_recent, "declined", by=None,
                           now=now - dt.timedelta(days=10))
    db.session.commit()
    count = services.purge(db.session, older_than=now - dt.timedelta(days=365))
    db.session.commit()
    assert count == 2
    assert done_old.is_erased and declined_old.is_erased
    assert not open_old.is_erased and not done_recent.is_erased
    assert services.purge(db.session, older_than=now - dt.timedelta(days=365)) == 0
    reasons = db.session.scalars(sa.select(AuditEvent.details).where(
        AuditEvent.action == "enquiry.erased")).all()
    assert reasons == [{"reason": "purge"}, {"reason": "purge"}]


def _refs(db, **filters):
    stmt = services.inbox_statement(services.InboxFilter(**filters))
    return [e.email for e in db.session.scalars(stmt)]


def test_inbox_filters_search_and_order(db, make_user):
    staff = db.session.merge(make_user("staff"))
    t0 = dt.datetime(2024, 3, 10, 12, tzinfo=UTC)
    a = submit(db, contact=contact(name="Zoë Brown", email="zoe@example.org"), now=t0)
    b = submit(db, "supporter", contact=contact(name="王秀英", email="wang@example.org"),
               now=t0 + dt.timedelta(days=1))
    c = submit(db, contact=contact(name="100% Reader", email="pct@example.org"),
               now=t0 + dt.timedelta(days=2))
    services.change_status(db.session, b, "contacted", by=staff)
    db.session.commit()
    # an acknowledgement the mail server refused (the outbox keeps the error)
    from coop import outbox

    message = outbox.enqueue_email(db.session, to=c.email, subject="Ack", text="x",
                                   about=c.reference)
    outbox.record_failure(db.session, message, "550 no such mailbox", permanent=True)
    db.session.commit()
    assert _refs(db) == ["pct@example.org", "wang@example.org", "zoe@example.org"]
    assert _refs(db, kind="supporter") == ["wang@example.org"]
    assert _refs(db, status="contacted") == ["wang@example.org"]
    assert _refs(db, status="new", kind="shares") == ["pct@example.org", "zoe@example.org"]
    assert _refs(db, q="王秀") == ["wang@example.org"]
    assert _refs(db, q="ZOE@") == ["zoe@example.org"]
    assert _refs(db, q=a.reference.lower()) == ["zoe@example.org"]
    assert _refs(db, q="100%") == ["pct@example.org"]
    assert _refs(db, q="%") == ["pct@example.org"]  # a literal percent, not a wildcard
    assert _refs(db, q="_") == []
    assert _refs(db, email_failed=True) == ["pct@example.org"]
    day = dt.date(2024, 3, 11)
    assert _refs(db, date_from=day, date_to=day) == ["wang@example.org"]
    assert _refs(db, date_from=day) == ["pct@example.org", "wang@example.org"]
    assert _refs(db, date_to=day) == ["wang@example.org", "zoe@example.org"]
    assert _refs(db, kind="nonsense", status="nonsense") == _refs(db)


def test_inbox_dates_are_london_days(db):
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (BST).
    submit(db, now=dt.datetime(2024, 7, 1, 23, 30, tzinfo=UTC))
    db.session.commit()
    assert _refs(db, date_from=dt.date(2024, 7, 2), date_to=dt.date(2024, 7, 2)) == [
        "ada@example.org"]
    assert _refs(db, date_to=dt.date(2024, 7, 1)) == []


def test_purge_erases_an_open_enquiry_a_deleted_account_left_once_it_is_old(db, make_user):
    """Kept to be finished when its account was deleted; left untouched past the purge age,
    it goes like a closed one. One still being worked, or one never sent logged in, stays."""
    now = dt.datetime(2025, 6, 1, tzinfo=UTC)
    old = now - dt.timedelta(days=400)
    member = db.session.merge(make_user("member"))
    left = submit(db, user=member, now=old)
    anonymous_old = submit(db, contact=contact(email="anon@example.org"), now=old)
    db.session.commit()
    services.anonymise_for_user(db.session, member)
    left.updated_at = old  # nobody touched it since the account went
    db.session.commit()
    assert services.purge(db.session, older_than=now - dt.timedelta(days=365)) == 1
    db.session.commit()
    assert left.is_erased and not anonymous_old.is_erased


def test_member_export_and_account_deletion(db, make_user):
    member = db.session.merge(make_user("member"))
    other = db.session.merge(make_user("member"))
    mine = submit(db, user=member)
    services.add_note(db.session, mine, "Called", by=None)
    theirs = submit(db, user=other, contact=contact(email="other@example.org"))
    db.session.commit()
    assert services.for_user(db.session, member) == [mine]
    row = services.export_row(mine)
    assert row["reference"] == mine.reference and row["email"] == "ada@example.org"
    assert row["notes"][0]["text"] == "Called"
    open_one = submit(db, user=member, contact=contact(email="ada.open@example.org"))
    services.change_status(db.session, mine, "withdrawn", by=None)
    db.session.commit()
    assert services.anonymise_for_user(db.session, member) == 1
    db.session.commit()
    assert mine.is_erased and not theirs.is_erased
    assert services.for_user(db.session, member) == []
    # an open one is kept to be finished, no longer the account's, with a note for staff
    assert not open_one.is_erased and open_one.user_id is None
    assert open_one.email == "ada.open@example.org"
    assert [n.body for n in open_one.notes] == [services.ACCOUNT_DELETED_NOTE]


@pytest.mark.parametrize("method, text", [
    ("bank_transfer", "£50 by bank transfer, received 3 January 2024"),
    ("cheque", "£50 by cheque, received 3 January 2024"),
    ("cash", "£50 in cash, received 3 January 2024"),
    ("online", "£50 paid online, received 3 January 2024"),  # QA: was "£50 by online"
])
def test_a_payment_reads_as_a_sentence_whatever_its_method(method, text):
    assert services._payment_text(5000, dt.date(2024, 1, 3), method) == text
