"""``POST /api/fund/entries``: bearer tokens, strict JSON, rules, idempotency keys."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from tests.api.conftest import gift, ledger, london_today, raised


def test_records_a_gift_and_answers_the_new_figures(app, post_entry, campaign):
    response = post_entry(gift(amount_pence=2500, donor_name="  J.  Smith ",
                               donor_town="Leeds", may_thank=True))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    entry = body["entry"]
    assert entry["amount_pence"] == 2500
    assert entry["campaign"] == campaign
    assert entry["source"] == "online"
    assert entry["received_on"] == london_today().isoformat()
    assert entry["donor_name"] == "J. Smith" and entry["donor_town"] == "Leeds"
    assert entry["may_thank"] is True
    assert entry["via"] == "api:payments"
    assert entry["created_at"].endswith("Z")
    with app.app_context():
        from coop.extensions import db
        from coop.fund.models import Entry

        # a name sent through the API was typed by a reader: it waits for staff to read it
        assert db.session.get(Entry, entry["id"]).thanks_check == "waiting"
    assert "J. Smith" not in app.test_client().get("/fund").get_data(as_text=True)
    figures = body["campaign"]
    assert figures["slug"] == campaign
    assert figures["raised_pence"] == 2500
    assert figures["remaining_pence"] == 1_800_000 - 2500
    assert figures["percent"] == 0.1
    assert figures["currency"] == "GBP" and figures["status"] == "open"

    [saved] = ledger(app)
    assert (saved.id, saved.amount_pence, saved.via) == (entry["id"], 2500, "api:payments")
    assert saved.entered_by_id is None
    assert raised(app, campaign) == 2500


def test_the_entry_is_audited(app, post_entry, campaign):
    from coop.audit import AuditEvent
    from coop.extensions import db

    entry_id = post_entry().get_json()["entry"]["id"]
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.subject_type == "fund_entry")
        ).all()
        assert [(e.subject_id, e.details["via"]) for e in events] == [
            (str(entry_id), "api:payments")
        ]


def test_campaign_may_be_named(app, post_entry, campaign, make_campaign):
    today = london_today()
    other = make_campaign("other", opens_on=today - dt.timedelta(days=40),
                          deadline=today - dt.timedelta(days=11))  # the month before
    response = post_entry(gift(campaign=other, amount_pence=700,
                               received_on=(today - dt.timedelta(days=20)).isoformat()))
    assert response.status_code == 201
    assert response.get_json()["campaign"]["slug"] == "other"
    assert raised(app, "other") == 700 and raised(app, campaign) == 0


# Authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc",
])
def test_without_a_bearer_token_401(app, post_entry, campaign, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = post_entry(token=None, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"] == "Not authorised"
    assert ledger(app) == []


@pytest.mark.parametrize("bad", [
    "coop_" + "A" * 43,           # well-formed, unknown
    "nonsense",
    "coop_" + "A" * 4000,
    "coop_" + "é" * 43,
])
def test_an_unknown_token_401(app, post_entry, campaign, bad):
    response = post_entry(token=bad)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert ledger(app) == []


def test_bearer_scheme_is_case_insensitive(post_entry, campaign, token):
    response = post_entry(token=None, headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 201


def test_a_revoked_token_401(app, post_entry, campaign, token):
    from coop.api import services
    from coop.extensions import db

    assert post_entry().status_code == 201
    with app.app_context():
        services.revoke_token(db.session, services.find_token(db.session, "payments"))
        db.session.commit()
    response = post_entry()
    assert response.status_code == 401
    assert "revoked" in response.get_json()["message"]
    assert len(ledger(app)) == 1


def test_use_is_recorded(app, post_entry, campaign):
    from coop.api import services
    from coop.extensions import db

    with app.app_context():
        assert services.find_token(db.session, "payments").last_used_at is None
    post_entry()
    with app.app_context():
        used = services.find_token(db.session, "payments").last_used_at
    assert used is not None
    assert dt.datetime.now(dt.UTC) - used < dt.timedelta(minutes=1)


def test_a_cookie_session_is_not_enough(app, client, login_as, campaign):
    login_as("admin")
    response = client.post("/api/fund/entries", json=gift(), headers={"Idempotency-Key": "k"})
    assert response.status_code == 401
    assert ledger(app) == []


# Malformed requests: 400, 413, 415 -------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b"", b"{", b"not json", b"{'amount_pence': 1}", b'{"amount_pence": NaN}',
    b'{"amount_pence": Infinity}', b"\xff\xfe", b"[" * 4000 + b"]" * 4000,
    # a lone surrogate: JSON's syntax allows it, but it is no character (a 500 before)
    b'{"amount_pence": 2500, "received_on": "2022-11-13", "source": "post", '
    b'"donor_name": "\\ud800"}',
    b'{"amount_pence": 2500, "received_on": "2022-11-13", "source": "post", '
    b'"x\\udfff": 1}',
])
def test_malformed_json_400(app, post_entry, campaign, raw):
    response = post_entry(data=raw)
    assert response.status_code == 400
    assert response.is_json and "not valid JSON" in response.get_json()["message"]
    assert ledger(app) == []


@pytest.mark.parametrize("body,field", [
    ([], "body"), ("text", "body"), (None, "body"), (12, "body"),
    ({"received_on": "2022-11-13", "source": "post"}, "amount_pence"),
    (gift(amount_pence="2500"), "amount_pence"),
    (gift(amount_pence=25.5), "amount_pence"),
    (gift(amount_pence=True), "amount_pence"),
    (gift(amount_pence=None), "amount_pence"),
    (gift(received_on=20221113), "received_on"),
    (gift(received_on=None), "received_on"),
    (gift(source=1), "source"),
    (gift(source=["online"]), "source"),
    (gift(campaign=7), "campaign"),
    (gift(donor_name=["x"]), "donor_name"),
    (gift(donor_town={"a": 1}), "donor_town"),
    (gift(may_thank="yes"), "may_thank"),
    (gift(may_thank=1), "may_thank"),
    (gift(amount=2500), "amount"),
])
def test_wrong_types_400_naming_the_field(app, post_entry, campaign, body, field):
    response = post_entry(data=json.dumps(body))
    assert response.status_code == 400, response.get_json()
    errors = response.get_json()["errors"]
    assert field in [e["field"] for e in errors]
    assert all(e["message"] for e in errors)
    assert ledger(app) == []


def test_a_whole_number_written_as_a_decimal_is_a_whole_number(app, post_entry, campaign):
    response = post_entry(data=b'{"amount_pence": 2500.0, "received_on": "%s", '
                               b'"source": "post"}' % london_today().isoformat().encode())
    assert response.status_code == 201
    assert response.get_json()["entry"]["amount_pence"] == 2500
    assert [e.amount_pence for e in ledger(app)] == [2500]


def test_every_problem_is_listed_at_once(post_entry, campaign):
    response = post_entry({"amount_pence": "x", "source": 3, "colour": "red"})
    assert response.status_code == 400
    fields = {e["field"] for e in response.get_json()["errors"]}
    assert fields == {"amount_pence", "received_on", "source", "colour"}


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", None,
])
def test_not_json_415(app, client, token, campaign, content_type):
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k"}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/api/fund/entries", data=json.dumps(gift()), headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.get_json()["message"]
    assert ledger(app) == []


def test_json_with_charset_is_fine(post_entry, campaign):
    response = post_entry(data=json.dumps(gift()),
                          content_type="application/json; charset=utf-8")
    assert response.status_code == 201


def test_a_large_body_413(app, post_entry, campaign):
    body = gift(donor_name="x" * 20_000)
    response = post_entry(data=json.dumps(body))
    assert response.status_code == 413
    assert response.is_json and response.get_json()["error"] == "Too large"
    assert ledger(app) == []


def test_the_api_limit_holds_even_when_the_body_is_read_before_the_view(app, post_entry,
                                                                        campaign):
    """coop.security reads every POST body (looking for NUL) before any view runs."""
    response = post_entry(data=json.dumps(gift(donor_name="x" * 17_000)).encode())
    assert response.status_code == 413
    unauthenticated = post_entry(data=b"{" + b" " * 17_000 + b"}", token=None)
    assert unauthenticated.status_code == 413


def test_a_2mb_body_413(app, post_entry, campaign):
    response = post_entry(data=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert response.status_code == 413
    assert ledger(app) == []


def test_body_limit_is_configurable(make_app, make_token, campaign):
    app = make_app(API_MAX_BODY_BYTES=64)
    secret = make_token("small")
    response = app.test_client().post(
        "/api/fund/entries", json=gift(donor_name="A longer name than fits"),
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "k"})
    assert response.status_code == 413


@pytest.mark.parametrize("key", [None, "", "x" * 256, "tab\there", "bell\x07", "ünï",
                                 " leading", "trailing "])
def test_a_missing_or_bad_idempotency_key_400(app, client, token, campaign, key):
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    response = client.post("/api/fund/entries", json=gift(), headers=headers)
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "Idempotency-Key"
    assert ledger(app) == []


def test_a_255_character_key_is_accepted(post_entry, campaign):
    assert post_entry(key="k" * 254 + "~").status_code == 201


# Rules: 422 ---------------------------------------------------------------------------------


def _field_errors(response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.get_json()["errors"]}


@pytest.mark.parametrize("overrides,field,words", [
    ({"amount_pence": 0}, "amount_pence", "more than 0"),
    ({"amount_pence": -500}, "amount_pence", "more than 0"),
    ({"amount_pence": 10_000_001}, "amount_pence", "£100,000"),
    ({"amount_pence": 10**40}, "amount_pence", "£100,000"),
    ({"received_on": "2022-13-01"}, "received_on", "YYYY-MM-DD"),
    ({"received_on": "20221113"}, "received_on", "YYYY-MM-DD"),
    ({"received_on": "2022-11-13T10:00:00"}, "received_on", "YYYY-MM-DD"),
    ({"received_on": "１２３４-11-13"}, "received_on", "YYYY-MM-DD"),
    ({"received_on": "2000-01-01"}, "received_on", "within the campaign"),
    ({"source": "cash"}, "source", "standing_order"),
    ({"campaign": "no-such"}, "campaign", "no campaign"),
    ({"campaign": ""}, "campaign", "no campaign"),
    ({"campaign": "x" * 65}, "campaign", "no campaign"),
    ({"donor_name": "x" * 121}, "donor_name", "120"),
    ({"donor_town": "x" * 81}, "donor_town", "80"),
    ({"donor_name": "Bad\x1bname"}, "donor_name", "control"),
    ({"donor_town": "Leeds\x07"}, "donor_town", "control"),
    ({"may_thank": True}, "may_thank", "donor name"),
])
def test_rule_failures_422(app, post_entry, campaign, overrides, field, words):
    response = post_entry(gift(**overrides))
    assert response.status_code == 422, response.get_json()
    errors = _field_errors(response)
    assert words in errors[field]
    assert ledger(app) == [] and raised(app, campaign) == 0


def test_a_refused_name_is_the_only_error_when_thanks_are_asked(app, post_entry, campaign):
    """QA: a name too long also drew "Only a gift with a donor name can be thanked"."""
    for name in ("x" * 121, "Bad\x1bname"):
        response = post_entry(gift(donor_name=name, may_thank=True))
        assert response.status_code == 422
        assert set(_field_errors(response)) == {"donor_name"}, name


def test_invisible_direction_controls_are_dropped_from_names(app, post_entry, campaign):
    response = post_entry(gift(donor_name="\u202eevil\u202c name", donor_town="\u2067Hull"))
    assert response.status_code == 201
    entry = response.get_json()["entry"]
    assert (entry["donor_name"], entry["donor_town"]) == ("evil name", "Hull")


def test_a_future_day_422(app, post_entry, make_campaign):
    today = london_today()
    make_campaign(opens_on=today - dt.timedelta(days=1), deadline=today + dt.timedelta(days=9))
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    response = post_entry(gift(received_on=tomorrow))
    assert response.status_code == 422
    assert "future" in _field_errors(response)["received_on"]


def test_no_open_campaign_422(app, post_entry):
    response = post_entry()
    assert response.status_code == 422
    assert "No campaign is open" in _field_errors(response)["campaign"]


def test_a_closed_campaign_422(app, post_entry, campaign):
    from coop.extensions import db
    from coop.fund import services

    with app.app_context():
        services.close_campaign(db.session, services.get_campaign(db.session, campaign))
        db.session.commit()
    response = post_entry(gift(campaign=campaign))
    assert response.status_code == 422
    assert "closed" in _field_errors(response)["campaign"]
    assert ledger(app) == []


def test_max_gift_follows_config(make_app, make_token, campaign):
    app = make_app(FUND_MAX_GIFT_PENCE=1000)
    secret = make_token("capped")
    response = app.test_client().post(
        "/api/fund/entries", json=gift(amount_pence=1001),
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "k"})
    assert response.status_code == 422
    assert "£10" in _field_errors(response)["amount_pence"]


# Idempotency -------------------------------------------------------------------------------


def test_the_same_key_and_body_answer_the_same_and_record_once(app, post_entry, campaign):
    first = post_entry(gift(amount_pence=1234), key="pay_1")
    again = post_entry(gift(amount_pence=1234), key="pay_1")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(ledger(app)) == 1 and raised(app, campaign) == 1234


def test_key_order_and_spacing_do_not_make_a_different_request(app, post_entry, campaign):
    body = gift()
    assert post_entry(data=json.dumps(body), key="k").status_code == 201
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=4)
    again = post_entry(data=reordered, key="k")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert len(ledger(app)) == 1


def test_the_same_key_with_another_body_422(app, post_entry, campaign):
    assert post_entry(gift(amount_pence=1000), key="pay_1").status_code == 201
    response = post_entry(gift(amount_pence=2000), key="pay_1")
    assert response.status_code == 422
    assert "different request" in response.get_json()["message"]
    assert _field_errors(response)["Idempotency-Key"]
    assert [e.amount_pence for e in ledger(app)] == [1000]


def test_the_replay_does_not_depend_on_the_campaign_still_taking_gifts(app, post_entry,
                                                                       campaign):
    from coop.extensions import db
    from coop.fund import services

    first = post_entry(key="pay_1")
    with app.app_context():
        services.close_campaign(db.session, services.get_campaign(db.session, campaign))
        db.session.commit()
    again = post_entry(key="pay_1")
    assert again.status_code == 201 and again.get_json() == first.get_json()


def test_keys_belong_to_one_token(app, post_entry, campaign, make_token):
    other = make_token("shop")
    assert post_entry(key="same").status_code == 201
    response = post_entry(key="same", token=other)
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert [e.via for e in ledger(app)] == ["api:payments", "api:shop"]


def test_a_refused_request_is_not_remembered(app, post_entry, campaign):
    assert post_entry(gift(source="cash"), key="k").status_code == 422
    assert post_entry(gift(source="post"), key="k").status_code == 201
    assert [e.source for e in ledger(app)] == ["post"]


def test_a_key_stored_by_a_racing_request_is_answered_from_the_store(app, post_entry,
                                                                     campaign, monkeypatch):
    """The race path without threads: the first look finds nothing, then the insert hits the
    unique constraint because another request stored the key in between."""
    from coop.api import services

    first = post_entry(key="race")
    real = services.stored_answer
    calls = []

    def miss_once(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(services, "stored_answer", miss_once)
    again = post_entry(key="race")
    assert len(calls) == 2
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert len(ledger(app)) == 1 and raised(app, campaign) == 2500


def test_an_integer_too_long_for_python_is_a_400_not_a_500(app, post_entry, campaign):
    digits = b"9" * 5000
    response = post_entry(data=b'{"amount_pence": ' + digits + b', "received_on": "2022-11-13",'
                                b' "source": "post"}')
    assert response.status_code == 400
    assert "digits" in response.get_json()["message"]
    assert ledger(app) == []


def test_cors_on_the_public_reads_never_on_the_post(make_app, make_token, campaign):
    app = make_app()
    client = app.test_client()
    for url in ("/api/fund", f"/api/fund/{campaign}"):
        response = client.get(url, headers={"Origin": "https://paper.example"})
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "ETag" in response.headers["Access-Control-Expose-Headers"]
    # an unknown campaign's JSON 404 too: a fetch() from another site can read why (QA)
    missing = client.get("/api/fund/no-such-campaign", headers={"Origin": "https://paper.example"})
    assert missing.status_code == 404 and missing.is_json
    assert "no fighting fund campaign" in missing.get_json()["message"]
    assert missing.headers["Access-Control-Allow-Origin"] == "*"
    secret = make_token("cors")
    posted = client.post("/api/fund/entries", json=gift(), headers={
        "Authorization": f"Bearer {secret}", "Idempotency-Key": "k",
        "Origin": "https://paper.example"})
    assert posted.status_code == 201
    assert "Access-Control-Allow-Origin" not in posted.headers
    preflight = client.options("/api/fund/entries", headers={
        "Origin": "https://paper.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_cors_only_for_the_listed_sites_when_set(make_app, campaign):
    app = make_app(FUND_WIDGET_ORIGINS="https://a.example https://b.example")
    client = app.test_client()
    for origin in ("https://a.example", "https://b.example", "https://a.example"):
        response = client.get("/api/fund", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "Origin" in response.headers["Vary"]
    other = client.get("/api/fund", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Origin" not in client.get("/api/fund").headers
