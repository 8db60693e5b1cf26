"""The JSON API: ``POST /api/fund/entries`` for the payment processor, and the OpenAPI document.

Each POST is authenticated with a bearer token and carries an ``Idempotency-Key``: the
answer is saved with the entry in one transaction, so a retry gets the same answer and
records nothing new, and two identical requests racing each other record one entry.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy.exc import IntegrityError

from coop.access import access
from coop.api import services
from coop.api.auth import token_required
from coop.api.openapi import build_document
from coop.api.payloads import MalformedJSON, parse_json, read_entry
from coop.extensions import db
from coop.formatting import LONDON, iso_utc

bp = Blueprint("api", __name__, url_prefix="/api")

#: request bodies above this many bytes get 413 (config API_MAX_BODY_BYTES)
DEFAULT_MAX_BODY_BYTES = 16 * 1024


def json_error(status: int, error: str, message: str, errors: list | None = None, **headers):
    body = {"error": error, "message": message}
    if errors is not None:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def limit_body_size() -> None:
    """The API's JSON bodies are small: bigger ones get 413 as soon as anything reads them."""
    if request.blueprint == bp.name:
        request.max_content_length = current_app.config.get(
            "API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES
        )


def _is_json_type() -> bool:
    mimetype = request.mimetype or ""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


@bp.route("/fund/entries", methods=["POST"])
@access("token")
@token_required
def add_fund_entry():
    """Record one gift for the payment processor.

    :raise 401: no token, or a revoked one. 400: malformed JSON, wrong types or no key.
    413: body too large. 415: not JSON. 422: a rule refused it, or the key was used for a
    different request.
    """
    token = g.api_token
    if not _is_json_type():
        return json_error(415, "Unsupported media type",
                          "Send the body as JSON with Content-Type: application/json.")
    try:
        key = services.check_key(request.headers.get("Idempotency-Key"))
    except services.ApiError as err:
        return json_error(400, "Bad request", str(err),
                          [{"field": err.field, "message": str(err)}])
    try:
        body = parse_json(request.get_data(cache=True))
    except MalformedJSON as err:
        message = f"The body is not valid JSON: {err}."
        return json_error(400, "Bad request", message, [{"field": "body", "message": message}])

    fingerprint = services.request_hash(request.method, request.path, body)
    replay = _stored(token, key, fingerprint)
    if replay is not None:
        db.session.commit()  # keeps last_used_at
        return replay

    entry_input, problems = read_entry(body)
    if problems.malformed:
        return json_error(400, "Bad request", "Some fields are missing or of the wrong type.",
                          problems.malformed + problems.invalid)
    if problems.invalid:
        return json_error(422, "Couldn't process that", "Some values were not accepted.",
                          problems.invalid)

    from coop.fund import services as fund

    today = dt.datetime.now(LONDON).date()
    if entry_input.campaign:
        campaign = fund.get_campaign(db.session, entry_input.campaign)
        if campaign is None:
            return _unprocessable("campaign", "There is no campaign with this slug.")
    else:
        campaign = fund.current_campaign(db.session, today)
        if campaign is None:
            return _unprocessable("campaign", "No campaign is open or upcoming; name one.")

    try:
        claimed = services.claim_key(db.session, token, key, fingerprint)
        entry = fund.add_entry(
            db.session, campaign, entry_input.amount_pence,
            received_on=entry_input.received_on, source=entry_input.source,
            via=token.via, donor_name=entry_input.donor_name,
            donor_town=entry_input.donor_town, may_thank=entry_input.may_thank,
        )
        answer = {
            "entry": entry_json(entry, campaign.slug),
            "campaign": fund.figures_of(campaign).as_json(dt.datetime.now(dt.UTC)),
        }
        services.store_answer(db.session, claimed, 201, answer)
        db.session.commit()
    except fund.FundError as err:
        db.session.rollback()
        return _unprocessable(err.field or "body", err.message)
    except IntegrityError:
        # The same key was stored by a request that committed first: answer as it did.
        db.session.rollback()
        replay = _stored(token, key, fingerprint)
        if replay is None:
            raise
        return replay
    response = jsonify(answer)
    response.status_code = 201
    return response


def _stored(token, key: str, fingerprint: str):
    stored = services.stored_answer(db.session, token, key, fingerprint)
    if stored is None:
        return None
    if not stored.same_request:
        return json_error(
            422, "Idempotency key reused",
            "This Idempotency-Key was already used for a different request. Use a new key "
            "for a new request; reuse a key only to retry exactly the same request.",
            [{"field": "Idempotency-Key", "message": "Already used for a different request."}],
        )
    response = jsonify(stored.response)
    response.status_code = stored.status_code
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _unprocessable(field: str, message: str):
    return json_error(422, "Couldn't process that", message,
                      [{"field": field, "message": message}])


def entry_json(entry, campaign_slug: str) -> dict:
    return {
        "id": entry.id,
        "campaign": campaign_slug,
        "amount_pence": entry.amount_pence,
        "received_on": entry.received_on.isoformat(),
        "source": entry.source,
        "donor_name": entry.donor_name,
        "donor_town": entry.donor_town,
        "may_thank": entry.may_thank,
        "via": entry.via,
        "created_at": iso_utc(entry.created_at),
    }


@bp.route("/openapi.json")
@access("public")
def openapi_document():
    response = jsonify(build_document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
