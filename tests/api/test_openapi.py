"""The OpenAPI document: valid OpenAPI 3.1, covers every /api/ route, and the answers match it."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.api.conftest import gift

DOC = "urn:coop:openapi"


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def schema_validator(document, name: str) -> Draft202012Validator:
    registry = Registry().with_resource(
        DOC, Resource.from_contents(document, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{DOC}#/components/schemas/{name}"},
                                registry=registry, format_checker=FormatChecker())


def assert_matches(document, name: str, instance) -> None:
    errors = [e.message for e in schema_validator(document, name).iter_errors(instance)]
    assert not errors, errors


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on any problem


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_api_route_is_documented_and_nothing_else(app, document):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((_openapi_path(rule.rule), method.lower()))
    documented = {(path, method) for path, item in document["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    assert routes, "no /api/ routes found"
    assert routes - documented == set(), "JSON routes missing from coop/api/openapi.py"
    assert documented - routes == set(), "documented routes the app doesn't have"


def test_path_conversion():
    assert _openapi_path("/api/fund/<slug>") == "/api/fund/{slug}"
    assert _openapi_path("/api/x/<int:id>/y") == "/api/x/{id}/y"


def test_post_is_documented_with_examples_and_bearer_security(document):
    post = document["paths"]["/api/fund/entries"]["post"]
    assert post["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        **document["components"]["securitySchemes"]["bearerAuth"],
        "type": "http", "scheme": "bearer",
    }
    key = next(p for p in post["parameters"] if p["name"] == "Idempotency-Key")
    assert key["in"] == "header" and key["required"] is True
    assert set(post["responses"]) >= {"201", "400", "401", "413", "415", "422"}
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    for example in examples.values():
        assert_matches(document, "NewFundEntry", example["value"])
    created = post["responses"]["201"]["content"]["application/json"]["example"]
    assert_matches(document, "FundEntryCreated", created)


def test_the_max_gift_in_the_document_follows_config(make_app):
    app = make_app(FUND_MAX_GIFT_PENCE=5000)
    doc = app.test_client().get("/api/openapi.json").get_json()
    amount = doc["components"]["schemas"]["NewFundEntry"]["properties"]["amount_pence"]
    assert amount["maximum"] == 5000


def test_figures_fields_are_exactly_the_documented_ones(document):
    figures = document["components"]["schemas"]["FundFigures"]
    assert set(figures["required"]) == set(figures["properties"]) == {
        "slug", "name", "currency", "raised_pence", "target_pence", "remaining_pence",
        "percent", "days_remaining", "opens_on", "deadline", "status", "target_met",
        "updated_at",
    }


def test_real_answers_match_the_document(app, client, document, post_entry, campaign):
    created = post_entry(gift(donor_name="A. Reader", donor_town="Hull", may_thank=True))
    assert created.status_code == 201
    assert_matches(document, "FundEntryCreated", created.get_json())
    assert_matches(document, "ValidationError", post_entry(gift(source="cash")).get_json())
    assert_matches(document, "ValidationError", post_entry(data=b"[]").get_json())
    assert_matches(document, "Error", post_entry(token=None).get_json())
    assert_matches(document, "Error", post_entry(data=b"x" * 20_000).get_json())
    nul = post_entry(gift(donor_name="a\x00b"))
    assert nul.status_code == 400
    assert_matches(document, "Error", nul.get_json())

    current = client.get("/api/fund")
    assert current.status_code == 200
    assert_matches(document, "FundFigures", current.get_json())
    assert_matches(document, "FundFigures", client.get(f"/api/fund/{campaign}").get_json())
    assert_matches(document, "Error", client.get("/api/fund/no-such").get_json())


def test_the_validator_would_notice_a_wrong_answer(document):
    with pytest.raises(AssertionError):
        assert_matches(document, "FundFigures", {"slug": "x"})
    with pytest.raises(AssertionError):
        assert_matches(document, "FundEntryCreated", {"entry": {}, "campaign": {}})
