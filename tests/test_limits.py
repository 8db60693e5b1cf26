"""The shared bounds (coop/limits.py, coop/money.py): page numbers, far dates, huge amounts,
control characters in one-line fields, and mail that can't be built. None of it is ever a 500,
on either database."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from werkzeug.exceptions import NotFound

from coop import limits
from coop.extensions import db as _db
from coop.money import MAX_PENCE, PENCE_COLUMN_MAX, AmountError, parse_pence
from tests.conftest import login
from tests.events.conftest import make_event  # noqa: F401 - the fixture
from tests.events.test_staff import event_form, series_form
from tests.fund.conftest import make_campaign  # noqa: F401 - the fixture

HUGE = "99999999999999999999"
FAR = "9999-12-31"

# --- page numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "page"), [(None, 1), ("", 1), ("3", 3), (" 7 ", 7), ("0", 1),
                                          ("-4", 1), ("abc", 1), ("1.5", 1), ("١٢", 1),
                                          ("100000", 100_000)])
def test_page_number(raw, page):
    assert limits.page_number(raw) == page


@pytest.mark.parametrize("raw", [HUGE, "100001", "9" * 5000])
def test_a_page_no_list_can_have_is_404(raw):
    with pytest.raises(NotFound):
        limits.page_number(raw)


def _list_routes(app) -> list[str]:
    """Every GET route without arguments: the lists among them read ?page=."""
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static")


@pytest.mark.parametrize("role", ["anonymous", "admin"])
def test_page_numbers_on_every_list_are_never_a_500(make_app, make_user, make_event,  # noqa: F811
                                                    role):
    app = make_app(CACHE_RESPONSES=False)
    make_event("A talk")
    client = app.test_client()
    if role != "anonymous":
        assert login(client, make_user(role).email).status_code == 302
    failures = []
    for path in _list_routes(app):
        for raw in (HUGE, "-1", "abc", "100001", "2"):
            response = client.get(f"{path}?page={raw}")
            response.close()
            if response.status_code >= 500:
                failures.append(f"{path}?page={raw}: {response.status_code}")
    assert not failures, "\n".join(failures)
    assert client.get(f"/events?page={HUGE}").status_code == 404
    assert client.get("/events?page=abc").status_code == 200
    if role == "admin":
        for path in ("/admin/users", "/staff/enquiries", "/staff/events"):
            assert client.get(f"{path}?page={HUGE}").status_code == 404, path
            assert client.get(f"{path}?page=-3").status_code == 200, path


# --- dates -----------------------------------------------------------------------------------


def test_date_problem():
    assert limits.date_problem(None) is None
    assert limits.date_problem(dt.date(2000, 1, 1)) is None
    assert limits.date_problem(dt.date(2100, 12, 31)) is None
    assert "between 1 January 2000 and 31 December 2100" in limits.date_problem(
        dt.date(9999, 12, 31), "The deadline")
    assert limits.date_problem(dt.date(1999, 12, 31)).startswith("The date must be")


def test_staff_filters_with_far_dates_show_a_message(app, client, login_as, make_campaign):  # noqa: F811
    login_as("staff")
    campaign_id = make_campaign()
    for path in (f"/staff/enquiries?date_to={FAR}", "/staff/enquiries?date_from=0001-01-01",
                 f"/staff/fund/{campaign_id}/report?day={FAR}",
                 f"/staff/fund/{campaign_id}/ledger?day={FAR}",
                 f"/staff/fund/{campaign_id}/ledger.csv?day={FAR}"):
        response = client.get(path)
        # the enquiry list answers a filter it can't use with 422 and lists nothing
        assert response.status_code == (422 if "enquiries" in path else 200), path
        if "csv" not in path:
            assert "Enter a date between 1 January 2000 and 31 December 2100" in response.text


def test_inbox_service_takes_far_dates_as_the_ends_of_the_range(db):
    from coop.shares import services

    stmt = services.inbox_statement(services.InboxFilter(
        kind="", status="", date_from=dt.date(1, 1, 1), date_to=dt.date(9999, 12, 31), q="",
        email_failed=False))
    assert db.session.scalars(stmt).all() == []


def test_events_with_far_dates_are_refused_with_a_message(app, client, login_as):
    login_as("staff")
    response = client.post("/staff/events/new", data=event_form(start_date=FAR))
    assert response.status_code == 422
    assert "Enter a date between 1 January 2000" in response.text
    response = client.post("/staff/events/new", data=event_form(end_date=FAR))
    assert response.status_code == 422
    # a series whose first date is fine but whose last session runs past the range
    response = client.post("/staff/events/series/new",
                           data=series_form(first_date="2100-10-01", count="52"))
    assert response.status_code == 422
    assert "every session must be between 1 January 2000 and 31 December 2100" in response.text
    response = client.post("/staff/events/series/new",
                           data=series_form(first_date="9999-12-01", repeat="monthly",
                                            count="52"))
    assert response.status_code == 422
    with app.app_context():
        from coop.events.models import Event

        assert _db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_event_services_refuse_far_dates(db):
    from coop.events import services

    details = services.EventDetails(title="Far")
    far = dt.datetime(9999, 12, 31, 12, tzinfo=dt.UTC)
    with pytest.raises(services.DateOutOfRange):
        services.create_event(db.session, details, far - dt.timedelta(hours=2), far)
    with pytest.raises(services.DateOutOfRange, match="sessions would run to"):
        services.create_series(db.session, title="Long", summary="", description="",
                               first_date=dt.date(2100, 11, 1), start_time=dt.time(19),
                               duration=dt.timedelta(hours=1), repeat="monthly", count=12,
                               details=services.EventDetails(title=""))


def test_campaigns_with_far_dates_or_huge_targets_are_refused(app, client, login_as):
    login_as("staff")
    data = {"name": "Far appeal", "slug": "far", "target": "18000", "opens_on": "9999-12-01",
            "deadline": FAR, "donate_url": "", "thank_you_text": ""}
    response = client.post("/staff/fund/campaigns/new", data=data)
    assert response.status_code == 422
    assert 'id="opens_on-error"' in response.text and 'id="deadline-error"' in response.text
    assert 'value="Far appeal"' in response.text
    data.update(opens_on="2030-12-01", deadline="2030-12-31")
    for target in ("92233720368547758.08", "20,000,000", "10,000,000.01"):  # ≥ 2⁶³ p, > £10m
        response = client.post("/staff/fund/campaigns/new", data={**data, "target": target})
        assert response.status_code == 422, target
        assert "can be at most £10,000,000" in response.text
    response = client.post("/staff/fund/campaigns/new", data={**data, "target": "10,000,000"})
    assert response.status_code == 302
    assert client.get("/staff/fund").status_code == 200


def test_campaign_services_refuse_far_dates_and_huge_targets(db):
    from coop.fund import services

    values = {"name": "X", "slug": "x", "target_pence": 100, "opens_on": dt.date(2030, 1, 1),
              "deadline": dt.date(2030, 1, 31)}
    for bad in ({"target_pence": 2**63}, {"target_pence": MAX_PENCE + 1},
                {"deadline": dt.date(9999, 12, 31)}, {"opens_on": dt.date(1999, 1, 1)}):
        with pytest.raises(services.InvalidCampaign) as err:
            services.create_campaign(db.session, **{**values, **bad})
        assert err.value.field in ("target_pence", "opens_on", "deadline")


def test_a_campaign_saved_in_december_9999_no_longer_breaks_the_fund_pages(
        app, client, login_as, make_campaign):  # noqa: F811
    """From before the bounds: the staff pages still work, and next month (after it, since it
    covers today) is refused."""
    login_as("staff")
    campaign_id = make_campaign()
    with app.app_context():
        _db.session.execute(sa.text(
            "UPDATE fund_campaigns SET opens_on = :o, deadline = :d WHERE id = :i"),
            {"o": dt.date(2020, 1, 1), "d": dt.date(9999, 12, 31), "i": campaign_id})
        _db.session.commit()
    assert client.get("/staff/fund").status_code == 200
    assert client.get(f"/staff/fund/{campaign_id}").status_code == 200
    response = client.post("/staff/fund/campaigns/next", follow_redirects=True)
    assert response.status_code == 200
    assert "must be between 1 January 2000 and 31 December 2100" in response.text


# --- amounts ----------------------------------------------------------------------------------


def test_parse_pence_is_bounded_even_without_a_maximum():
    assert parse_pence("10,000,000") == MAX_PENCE
    for text in ("10,000,000.01", "92233720368547758.08", "-99999999999999999"):
        with pytest.raises(AmountError, match="at most £10,000,000"):
            parse_pence(text, allow_negative=True)


def test_the_running_total_stops_below_the_columns_ceiling(app, db, make_campaign):  # noqa: F811
    from coop.fund import services
    from coop.fund.models import Campaign

    campaign_id = make_campaign()
    db.session.execute(sa.update(Campaign).where(Campaign.id == campaign_id)
                       .values(raised_pence=PENCE_COLUMN_MAX - 500))
    db.session.commit()
    campaign = db.session.get(Campaign, campaign_id)
    today = dt.datetime.now(limits.dt.UTC).date()
    with pytest.raises(services.InvalidEntry, match="the most the fund can record"):
        services.add_entry(db.session, campaign, 1000, received_on=today, source="post")
    db.session.rollback()
    services.add_entry(db.session, campaign, 500, received_on=today, source="post")
    db.session.commit()
    assert db.session.get(Campaign, campaign_id).raised_pence == PENCE_COLUMN_MAX
    for amount in (2**63, -(2**63), MAX_PENCE + 1):
        with pytest.raises(services.InvalidEntry):
            services.add_correction(db.session, campaign, amount, reason="typo",
                                    received_on=today)
    with pytest.raises(services.InvalidEntry, match="total can be at most"):
        services.set_total(db.session, campaign, 2**63, expected_pence=campaign.raised_pence,
                           expected_count=campaign.entry_count, received_on=today)


def test_huge_corrections_and_totals_in_the_staff_forms(app, client, login_as,
                                                        make_campaign):  # noqa: F811
    login_as("staff")
    campaign_id = make_campaign()
    today = dt.date.today().isoformat()
    response = client.post(f"/staff/fund/{campaign_id}/corrections/new",
                           data={"amount": "-20,000,000", "received_on": today,
                                 "source": "other", "reason": "typo"})
    assert response.status_code == 422 and "at most £10,000,000" in response.text
    response = client.post(f"/staff/fund/{campaign_id}/set-total",
                           data={"new_total": HUGE, "received_on": today, "reason": "",
                                 "expected_pence": "0", "expected_count": "0"})
    assert response.status_code == 422


def test_api_refuses_huge_integers_and_far_dates(app, client):
    from coop.api.services import MalformedJSON, parse_json
    from coop.fund.schemas import read_new_entry

    with pytest.raises(MalformedJSON, match="more than 1000 digits"):
        parse_json(b'{"amount_pence": ' + b"9" * 5000 + b"}")
    entry = read_new_entry(json.loads('{"amount_pence": 100, "received_on": "9999-12-31",'
                                      ' "source": "post"}'))
    assert entry.received_day == dt.date(9999, 12, 31)  # a real date: the service bounds it
    with app.app_context():
        from coop.fund import services
        from coop.fund.models import Campaign

        campaign = Campaign(name="x", slug="x", target_pence=1, opens_on=dt.date(2000, 1, 1),
                            deadline=dt.date(9999, 12, 31))
        with pytest.raises(services.InvalidEntry, match="between 1 January 2000"):
            services.check_entry(campaign, 100, received_on=dt.date(9999, 12, 31),
                                 source="post", reason=None)


# --- control characters and mail ------------------------------------------------------------


def test_one_line():
    assert limits.one_line("Line\r\nBcc: x@example.org\t\x00end") == "Line Bcc: x@example.org end"
    assert limits.has_control_characters("a\u2028b") and not limits.has_control_characters("a b")


def test_a_line_break_in_a_crafted_title_is_refused_next_to_the_field(app, client, login_as):
    login_as("staff")
    response = client.post("/staff/events/new",
                           data=event_form(title="Talk\r\nBcc: victim@example.org"))
    assert response.status_code == 422
    assert "Use a single line of ordinary text" in response.text
    assert 'id="title-error"' in response.text


def test_event_services_refuse_control_characters(db):
    from coop.events import services

    start = dt.datetime(2030, 1, 1, 19, tzinfo=dt.UTC)
    with pytest.raises(services.EventError, match="The title: use a single line"):
        services.create_event(db.session, services.EventDetails(title="A\nB"), start,
                              start + dt.timedelta(hours=1))


def test_an_old_title_with_a_line_break_breaks_neither_registration_nor_calendar(
        app, client, make_event, outbox):  # noqa: F811
    """Saved before titles were checked: registering works, the email goes out on one line."""
    event = make_event("Talk")
    with app.app_context():
        _db.session.execute(sa.text("UPDATE events SET title = :t WHERE id = :i"),
                            {"t": "Talk\r\nBcc: victim@example.org", "i": event.id})
        _db.session.commit()
    response = client.post(f"/events/{event.slug}/register",
                           data={"name": "A", "email": "a@example.org"})
    assert response.status_code == 302
    [message] = outbox()
    assert message["Subject"] == "Your place: Talk Bcc: victim@example.org"
    assert message["Bcc"] is None
    for path in (f"/events/{event.slug}.ics", "/events.ics", "/events.atom",
                 f"/events/{event.slug}"):
        assert client.get(path).status_code == 200, path


def test_mail_that_cannot_be_built_is_a_mail_error(app):
    from coop.mail import MailError, build_message, send_email

    with app.app_context():
        for to, subject in (("a@example.org", "Hi\r\nBcc: v@example.org"),
                            ("a@example.org", "Hi\u2028there"),
                            ("a@example.org\r\nBcc: v@example.org", "Hi"),
                            ("not an address", "Hi"), ("a@", "Hi"), ("", "Hi")):
            with pytest.raises(MailError):
                build_message(to, subject, "text")
            with pytest.raises(MailError):
                send_email(to, subject, "text")
        with pytest.raises(MailError):
            build_message("a@example.org", "Hi", "text", headers={"X-Ref": "a\nb"})
        assert build_message("Zoë <zoë@example.org>", "Hi", "text")["To"]
