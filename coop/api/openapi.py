"""The OpenAPI 3.1 document of the whole JSON API, served at ``GET /api/openapi.json``.

One module, built from plain dicts: a feature that adds a JSON route adds its path (and any
schemas) here. ``tests/api/test_openapi.py`` fails when an ``/api/`` route is undocumented.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from coop.api.models import KEY_MAX
from coop.fund.models import DONOR_NAME_MAX, DONOR_TOWN_MAX, SLUG_MAX, SOURCES

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"

#: one line of text: no control characters (NUL is refused for every route with 400, the rest
#: by the API's rules with 422; see coop/limits.py)
ONE_LINE = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str, **extra) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": schema, **extra}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


#: every operation may meet a database outage; nothing is recorded then
UNAVAILABLE = {
    "description": "The database is unavailable just now; nothing was recorded. Retry later "
                   "(for POST, with the same Idempotency-Key).",
    "headers": {"Retry-After": {"schema": {"type": "string"}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _validation(description: str) -> dict[str, Any]:
    return _json(_ref("ValidationError"), description)


# --------------------------------------------------------------------------------------------
# Schemas


def _schemas(max_gift_pence: int) -> dict[str, Any]:
    return {
        "Error": {
            "type": "object",
            "description": "Every error answer of the API.",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "description": "A short title, e.g. Not found."},
                "message": {"type": "string", "description": "What went wrong, for people."},
                "errors": {"type": "array", "items": _ref("FieldError"),
                           "description": "The fields at fault, when there are some."},
            },
        },
        "FieldError": {
            "type": "object",
            "required": ["field", "message"],
            "properties": {
                "field": {"type": "string",
                          "description": "The body field (or header) at fault."},
                "message": {"type": "string"},
            },
        },
        "ValidationError": {
            "description": "An error that names the fields at fault (always for 422).",
            "allOf": [
                _ref("Error"),
                {
                    "type": "object",
                    "required": ["errors"],
                    "properties": {"errors": {"type": "array", "items": _ref("FieldError")}},
                },
            ],
        },
        "FundFigures": {
            "type": "object",
            "description": "A fighting-fund campaign's public figures.",
            "additionalProperties": False,
            "required": ["slug", "name", "currency", "raised_pence", "target_pence",
                         "remaining_pence", "percent", "days_remaining", "opens_on",
                         "deadline", "status", "target_met", "updated_at"],
            "properties": {
                "slug": {"type": "string", "maxLength": SLUG_MAX, "examples": ["2022-11"]},
                "name": {"type": "string", "examples": ["November 2022 fighting fund"]},
                "currency": {"type": "string", "const": "GBP"},
                "raised_pence": {"type": "integer", "minimum": 0,
                                 "description": "Sum of the ledger, in pence."},
                "target_pence": {"type": "integer", "minimum": 1},
                "remaining_pence": {"type": "integer", "minimum": 0,
                                    "description": "max(target − raised, 0)."},
                "percent": {"type": "number", "minimum": 0,
                            "description": "raised / target × 100, rounded down to one "
                                           "decimal; above 100 once the target is passed."},
                "days_remaining": {"type": "integer", "minimum": 0,
                                   "description": "Whole days to the deadline in "
                                                  "Europe/London; 0 on the deadline day."},
                "opens_on": {"type": "string", "format": "date"},
                "deadline": {"type": "string", "format": "date"},
                "status": {"type": "string", "enum": ["upcoming", "open", "closed"]},
                "target_met": {"type": "boolean"},
                "updated_at": {"type": "string", "format": "date-time",
                               "description": "Last change to the figures, ISO 8601 UTC."},
            },
        },
        "NewFundEntry": {
            "type": "object",
            "additionalProperties": False,
            "required": ["amount_pence", "received_on", "source"],
            "properties": {
                "amount_pence": {"type": "integer", "minimum": 1, "maximum": max_gift_pence,
                                 "description": "The gift in pence: 2500 is £25."},
                "received_on": {"type": "string", "format": "date",
                                "description": "The day the money arrived (Europe/London), "
                                               "within the campaign and not in the future."},
                "source": {"type": "string", "enum": list(SOURCES)},
                "campaign": {"type": ["string", "null"], "maxLength": SLUG_MAX,
                             "pattern": ONE_LINE,
                             "description": "A campaign's slug; by default the campaign "
                                            "open now (else the next upcoming one)."},
                "donor_name": {"type": ["string", "null"], "maxLength": DONOR_NAME_MAX,
                               "pattern": ONE_LINE},
                "donor_town": {"type": ["string", "null"], "maxLength": DONOR_TOWN_MAX,
                               "pattern": ONE_LINE},
                "may_thank": {"type": "boolean", "default": False,
                              "description": "The donor agreed to be thanked by name in "
                                             "print; needs donor_name."},
            },
        },
        "FundEntry": {
            "type": "object",
            "required": ["id", "campaign", "amount_pence", "received_on", "source",
                         "donor_name", "donor_town", "may_thank", "via", "created_at"],
            "properties": {
                "id": {"type": "integer"},
                "campaign": {"type": "string", "description": "The campaign's slug."},
                "amount_pence": {"type": "integer"},
                "received_on": {"type": "string", "format": "date"},
                "source": {"type": "string", "enum": list(SOURCES)},
                "donor_name": {"type": ["string", "null"]},
                "donor_town": {"type": ["string", "null"]},
                "may_thank": {"type": "boolean"},
                "via": {"type": "string", "description": "api:<token name>"},
                "created_at": {"type": "string", "format": "date-time"},
            },
        },
        "FundEntryCreated": {
            "type": "object",
            "required": ["entry", "campaign"],
            "properties": {
                "entry": _ref("FundEntry"),
                "campaign": _ref("FundFigures"),
            },
        },
    }


# --------------------------------------------------------------------------------------------
# Paths: one function per feature


def _fund_paths() -> dict[str, Any]:
    figures_example = {
        "slug": "2022-11", "name": "November 2022 fighting fund", "currency": "GBP",
        "raised_pence": 657200, "target_pence": 1800000, "remaining_pence": 1142800,
        "percent": 36.5, "days_remaining": 17, "opens_on": "2022-11-01",
        "deadline": "2022-11-30", "status": "open", "target_met": False,
        "updated_at": "2022-11-13T09:41:07Z",
    }
    cached = {
        "ETag": {"description": "Changes with every entry.", "schema": {"type": "string"}},
        "Cache-Control": {"schema": {"type": "string"}},
    }
    not_modified = {"description": "The figures match the If-None-Match ETag.",
                    "headers": cached}
    if_none_match = {"name": "If-None-Match", "in": "header", "required": False,
                     "schema": {"type": "string"}}
    figures = _json(_ref("FundFigures"), "The campaign's figures.", example=figures_example)
    figures["headers"] = cached
    return {
        "/api/fund": {
            "get": {
                "operationId": "getCurrentFund",
                "summary": "The current campaign: the one open now, else the next upcoming.",
                "tags": ["fund"],
                "parameters": [if_none_match],
                "responses": {
                    "200": figures,
                    "304": not_modified,
                    "404": _error("No campaign is open or upcoming."),
                    "503": UNAVAILABLE,
                },
            },
        },
        "/api/fund/{slug}": {
            "get": {
                "operationId": "getFund",
                "summary": "One campaign's figures, past, current or upcoming.",
                "tags": ["fund"],
                "parameters": [
                    {"name": "slug", "in": "path", "required": True,
                     "schema": {"type": "string", "maxLength": SLUG_MAX}},
                    if_none_match,
                ],
                "responses": {
                    "200": figures,
                    "304": not_modified,
                    "404": _error("There is no campaign with this slug."),
                    "503": UNAVAILABLE,
                },
            },
        },
        "/api/fund/entries": {
            "post": {
                "operationId": "addFundEntry",
                "summary": "Record a gift (for the payment processor).",
                "description": (
                    "Adds one gift to the ledger and the campaign's running total, in one "
                    "transaction with the answer stored under the Idempotency-Key. Sending "
                    "the same key with the same body again answers the stored result (same "
                    "status and body, header `Idempotent-Replayed: true`) and records nothing "
                    "new; the same key with a different body is refused with 422. Only "
                    "successful requests are remembered, so a refused request may be "
                    "corrected and sent again with the same key."
                ),
                "tags": ["fund"],
                "security": [{"bearerAuth": []}],
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "required": True,
                     "description": "A unique value per gift (e.g. the processor's payment "
                                    "id or a UUID), reused only to retry the same request.",
                     "schema": {"type": "string", "minLength": 1, "maxLength": KEY_MAX,
                                "pattern": r"^[!-~](?:[ -~]*[!-~])?$"},
                     "example": "pay_7f3a9c2e-1b4d-4e8a-9f10-2c5d6e7f8a9b"},
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {
                        "schema": _ref("NewFundEntry"),
                        "examples": {
                            "anonymous": {
                                "summary": "An anonymous online gift of £25",
                                "value": {"amount_pence": 2500, "received_on": "2022-11-13",
                                          "source": "online"},
                            },
                            "named": {
                                "summary": "A named gift that may be thanked in print",
                                "value": {"amount_pence": 10000, "received_on": "2022-11-13",
                                          "source": "online", "campaign": "2022-11",
                                          "donor_name": "J. Smith", "donor_town": "Leeds",
                                          "may_thank": True},
                            },
                        },
                    }},
                },
                "responses": {
                    "201": _json(_ref("FundEntryCreated"),
                                 "Recorded (or, for a retried key, recorded before).",
                                 example={
                                     "entry": {"id": 412, "campaign": "2022-11",
                                               "amount_pence": 2500,
                                               "received_on": "2022-11-13",
                                               "source": "online", "donor_name": None,
                                               "donor_town": None, "may_thank": False,
                                               "via": "api:payments",
                                               "created_at": "2022-11-13T09:41:07Z"},
                                     "campaign": figures_example | {"raised_pence": 659700,
                                                                    "remaining_pence": 1140300,
                                                                    "percent": 36.6},
                                 }),
                    "400": _error("Malformed JSON, a missing field, a wrong type or a "
                                       "missing or malformed Idempotency-Key."),
                    "401": {**_error("No token, or one that is invalid or revoked."),
                            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}},
                    "413": _error("The body is larger than the API accepts (16 KB)."),
                    "415": _error("The body is not JSON."),
                    "422": _validation("A value broke a rule (e.g. a date outside the "
                                       "campaign, a closed campaign, an amount over the "
                                       "limit), or the key was used for a different request."),
                    "503": UNAVAILABLE,
                },
            },
        },
    }


def _api_paths() -> dict[str, Any]:
    return {
        "/api/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "summary": "This document.",
                "tags": ["meta"],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            },
        },
    }


#: each returns ``{path: path item}``; add a feature's JSON routes by adding a function here
PATH_BUILDERS = (_fund_paths, _api_paths)


def build_document() -> dict[str, Any]:
    """The document for the running app (limits from its config). It names no server: paths
    are relative to wherever it was fetched from."""
    from coop.fund.services import max_gift_pence

    paths: dict[str, Any] = {}
    for builder in PATH_BUILDERS:
        paths.update(builder())
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"{current_app.config['SITE_NAME']} API",
            "version": API_VERSION,
            "description": (
                "The fighting fund's public figures, and the endpoint the payment processor "
                "uses to record gifts. Amounts are integer pence; dates are Europe/London "
                "calendar days (YYYY-MM-DD); times are ISO 8601 UTC. Errors are JSON "
                "objects with `error` and `message`, plus `errors` (field, message) when "
                "fields are at fault."
            ),
            "license": {"name": "AGPL-3.0-or-later",
                        "identifier": "AGPL-3.0-or-later"},
        },
        "tags": [{"name": "fund", "description": "The monthly fighting fund."},
                 {"name": "meta", "description": "About the API."}],
        "paths": paths,
        "components": {
            "schemas": _schemas(max_gift_pence()),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token an admin creates at /admin/api-tokens: "
                                   "`Authorization: Bearer coop_…`.",
                },
            },
        },
    }
