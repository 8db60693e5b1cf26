"""``GET /api/openapi.json``: the OpenAPI 3.1 document of the whole JSON API.

Each resource's room declares its paths (``openapi_paths()``); the schemas are its pydantic
models (``coop/fund/schemas.py``), so what the API validates and what it documents are one
thing. ``tests/api/test_openapi.py`` fails when an ``/api/`` route is undocumented.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from coop.access import access
from coop.cache import cached

bp = Blueprint("api", __name__, url_prefix="/api")

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"


def build_document() -> dict[str, Any]:
    """The document for the running app (limits from its config). It names no server: paths
    are relative to wherever it was fetched from."""
    from coop.fund import api as fund_api
    from coop.fund.schemas import SCHEMAS
    from coop.fund.services import max_gift_pence

    schemas: dict[str, Any] = {}
    for model in SCHEMAS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[schema["title"]] = schema
    schemas["NewFundEntry"]["properties"]["amount_pence"]["maximum"] = max_gift_pence()
    paths = {
        **fund_api.openapi_paths(),
        "/api/openapi.json": {"get": {
            "operationId": "getOpenApiDocument", "summary": "This document.", "tags": ["meta"],
            "responses": {"200": {"description": "The OpenAPI document.", "content": {
                "application/json": {"schema": {"type": "object"}}}}}}},
    }
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
                "fields are at fault."),
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "tags": [{"name": "fund", "description": "The monthly fighting fund."},
                 {"name": "meta", "description": "About the API."}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "A token an admin creates at /admin/api-tokens: "
                               "`Authorization: Bearer coop_…`."}},
        },
    }


@bp.route("/openapi.json")
@access("public")
@cached()
def openapi_document():
    return jsonify(build_document())
