"""The fund's JSON API, in one place: ``GET /api/fund``, ``GET /api/fund/<slug>`` (public,
CORS, kept by the response cache) and ``POST /api/fund/entries`` (the payment processor:
bearer token and ``Idempotency-Key``), with their part of ``/api/openapi.json``.

A gift's way in: the body is read by :func:`coop.fund.schemas.read_new_entry`, the request
made idempotent by :func:`coop.api.services.idempotent`, the gift recorded by
:func:`coop.fund.services.add_entry` (which moves the running total), and the view commits.
The commit makes every kept page and figure stale (:mod:`coop.cache`).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, g, jsonify, request
from sqlalchemy.exc import IntegrityError

from coop.access import access
from coop.api import services as api
from coop.api.auth import token_required
from coop.api.models import KEY_MAX
from coop.cache import cached
from coop.errors import json_error
from coop.extensions import db
from coop.fund import schemas, services
from coop.fund.figures import CampaignFigures
from coop.fund.models import SLUG_MAX, Entry
from coop.security import body_limit, public_cors, sessionless
from coop.timeutil import london_today, now_utc

bp = Blueprint("fund_api", __name__, url_prefix="/api/fund")

#: request bodies above this many bytes get 413 (config API_MAX_BODY_BYTES)
DEFAULT_MAX_BODY_BYTES = 16 * 1024


def current_or_404(now: dt.datetime) -> CampaignFigures:
    """The open campaign, else the next upcoming one.

    :raise 404: when there is neither.
    """
    fig = services.current_figures(db.session, london_today(now))
    if fig is None:
        abort(404, "There is no fighting fund campaign open or coming up.")
    return fig


@bp.route("")
@access("public")
@sessionless
@cached(headers=("Origin",))
@public_cors
def current():
    """The open campaign, else the next upcoming one. :raise 404: (JSON) when there is
    neither."""
    now = now_utc()
    return jsonify(figures_json(current_or_404(now), now))


@bp.route("/<slug>")
@access("public")
@sessionless
@cached(headers=("Origin",))
@public_cors
def campaign(slug: str):
    """Any campaign by its slug. :raise 404: (JSON) no such campaign."""
    fig = services.figures_for_slug(db.session, slug)
    if fig is None:
        abort(404, "There is no fighting fund campaign with that address.")
    return jsonify(figures_json(fig, now_utc()))


# ---------------------------------------------------------------------------------------------
# Recording a gift


class _Refused(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _is_json_type() -> bool:
    mimetype = request.mimetype or ""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json"))


def figures_json(fig: CampaignFigures, now: dt.datetime) -> dict:
    """Exactly the fields of ``GET /api/fund``, built through its schema, so the answer and
    the document can't drift apart (audit: each was written out by hand)."""
    return schemas.FundFigures(
        slug=fig.slug, name=fig.name, currency="GBP", raised_pence=fig.raised_pence,
        target_pence=fig.target_pence, remaining_pence=fig.remaining_pence,
        percent=fig.percent, days_remaining=fig.days_remaining(now), opens_on=fig.opens_on,
        deadline=fig.deadline, status=fig.status(now), target_met=fig.target_met,
        updated_at=fig.updated_at,
    ).model_dump(mode="json")


def entry_json(entry: Entry, campaign_slug: str) -> dict:
    """A recorded gift as ``POST /api/fund/entries`` answers it, through its schema."""
    return schemas.FundEntry(
        id=entry.id, campaign=campaign_slug, amount_pence=entry.amount_pence,
        received_on=entry.received_on, source=entry.source, donor_name=entry.donor_name,
        donor_town=entry.donor_town, may_thank=entry.may_thank, via=entry.via,
        created_at=entry.created_at,
    ).model_dump(mode="json")


def _record(token, new: schemas.NewFundEntry) -> tuple[int, dict]:
    """Record the gift (flushes only); its answer."""
    if new.campaign:
        campaign = services.get_campaign(db.session, new.campaign)
        if campaign is None:
            raise _Refused("campaign", "There is no campaign with this slug.")
    else:
        campaign = services.current_campaign(db.session, london_today())
        if campaign is None:
            raise _Refused("campaign", "No campaign is open or upcoming; name one.")
    entry = services.add_entry(
        db.session, campaign, new.amount_pence, received_on=new.received_day,
        source=new.source, via=token.via, donor_name=new.donor_name,
        donor_town=new.donor_town, may_thank=new.may_thank,
        name_to_check=True)  # a name a reader typed somewhere staff haven't seen
    return 201, {"entry": entry_json(entry, campaign.slug),
                 "campaign": figures_json(services.figures_of(campaign), now_utc())}


def _answer(answer: api.Answer):
    response = jsonify(answer.body)
    response.status_code = answer.status_code
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _key_reused(err: api.KeyReused):
    return json_error(422, "Idempotency key reused", str(err), [
        {"field": "Idempotency-Key", "message": "Already used for a different request."}])


def _unprocessable(field: str, message: str):
    return json_error(422, "Couldn't process that", message,
                      [{"field": field, "message": message}])


@bp.route("/entries", methods=["POST"])
@access("token")
@body_limit("API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
@token_required
def add_entry():
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
        key = api.check_key(request.headers.get("Idempotency-Key"))
        body = api.parse_json(request.get_data(cache=True))
    except api.ApiError as err:
        return json_error(400, "Bad request", str(err), [{"field": err.field,
                                                           "message": str(err)}])
    except api.MalformedJSON as err:
        message = f"The body is not valid JSON: {err}."
        return json_error(400, "Bad request", message, [{"field": "body", "message": message}])
    fingerprint = api.request_hash(request.method, request.path, body)

    def act() -> tuple[int, dict]:
        return _record(token, schemas.read_new_entry(body))

    try:
        answer = api.idempotent(db.session, token, key, fingerprint, act)
        db.session.commit()  # the gift, its answer under the key, and the token's last use
    except api.KeyReused as err:
        db.session.commit()  # keeps last_used_at
        return _key_reused(err)
    except schemas.EntryProblems as problems:
        db.session.rollback()
        if problems.malformed:
            return json_error(400, "Bad request", "Some fields are missing or of the wrong "
                              "type.", problems.malformed + problems.invalid)
        return json_error(422, "Couldn't process that", "Some values were not accepted.",
                          problems.invalid)
    except _Refused as err:
        db.session.rollback()
        return _unprocessable(err.field, err.message)
    except services.FundError as err:
        db.session.rollback()
        return _unprocessable(err.field or "body", err.message)
    except IntegrityError:
        # The same key was stored by a request that committed first: answer as it did.
        db.session.rollback()
        try:
            answer = api.replay(db.session, token, key, fingerprint)
        except api.KeyReused as err:
            return _key_reused(err)
        if answer is None:
            raise
    return _answer(answer)


# ---------------------------------------------------------------------------------------------
# This resource's part of /api/openapi.json (the schemas come from coop/fund/schemas.py)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str, **extra) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(name), **extra}}}


FIGURES_EXAMPLE = {
    "slug": "2022-11", "name": "November 2022 fighting fund", "currency": "GBP",
    "raised_pence": 657200, "target_pence": 1800000, "remaining_pence": 1142800,
    "percent": 36.5, "days_remaining": 17, "opens_on": "2022-11-01", "deadline": "2022-11-30",
    "status": "open", "target_met": False, "updated_at": "2022-11-13T09:41:07Z",
}
UNAVAILABLE = {
    "description": "The database is unavailable just now; nothing was recorded. Retry later "
                   "(for POST, with the same Idempotency-Key).",
    "headers": {"Retry-After": {"schema": {"type": "string"}}},
    "content": {"application/json": {"schema": _ref("Error")}},
}


def openapi_paths() -> dict:
    kept = {"ETag": {"description": "Changes with the answer.", "schema": {"type": "string"}},
            "Cache-Control": {"schema": {"type": "string"}},
            "Access-Control-Allow-Origin": {"schema": {"type": "string"}}}
    figures = _json("FundFigures", "The campaign's figures.", example=FIGURES_EXAMPLE)
    figures["headers"] = kept
    not_modified = {"description": "The answer matches the If-None-Match ETag.",
                    "headers": kept}
    if_none_match = {"name": "If-None-Match", "in": "header", "required": False,
                     "schema": {"type": "string"}}

    def get(operation: str, summary: str, parameters: list, missing: str) -> dict:
        return {"get": {"operationId": operation, "summary": summary, "tags": ["fund"],
                        "parameters": parameters,
                        "responses": {"200": figures, "304": not_modified,
                                      "404": _json("Error", missing), "503": UNAVAILABLE}}}

    return {
        "/api/fund": get("getCurrentFund", "The current campaign: the one open now, else the "
                         "next upcoming.", [if_none_match], "No campaign is open or upcoming."),
        "/api/fund/{slug}": get(
            "getFund", "One campaign's figures, past, current or upcoming.",
            [{"name": "slug", "in": "path", "required": True,
              "schema": {"type": "string", "maxLength": SLUG_MAX}}, if_none_match],
            "There is no campaign with this slug."),
        "/api/fund/entries": {"post": {
            "operationId": "addFundEntry",
            "summary": "Record a gift (for the payment processor).",
            "description": (
                "Adds one gift to the ledger and the campaign's running total, in one "
                "transaction with the answer stored under the Idempotency-Key. Sending the "
                "same key with the same body again answers the stored result (same status "
                "and body, header `Idempotent-Replayed: true`) and records nothing new; the "
                "same key with a different body is refused with 422. Only successful "
                "requests are remembered, so a refused request may be corrected and sent "
                "again with the same key."),
            "tags": ["fund"],
            "security": [{"bearerAuth": []}],
            "parameters": [{
                "name": "Idempotency-Key", "in": "header", "required": True,
                "description": "A unique value per gift (e.g. the processor's payment id or a "
                               "UUID), reused only to retry the same request.",
                "schema": {"type": "string", "minLength": 1, "maxLength": KEY_MAX,
                           "pattern": r"^[!-~](?:[ -~]*[!-~])?$"},
                "example": "pay_7f3a9c2e-1b4d-4e8a-9f10-2c5d6e7f8a9b"}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _ref("NewFundEntry"),
                "examples": {
                    "anonymous": {"summary": "An anonymous online gift of £25",
                                  "value": {"amount_pence": 2500, "received_on": "2022-11-13",
                                            "source": "online"}},
                    "named": {"summary": "A named gift that may be thanked in print",
                              "value": {"amount_pence": 10000, "received_on": "2022-11-13",
                                        "source": "online", "campaign": "2022-11",
                                        "donor_name": "J. Smith", "donor_town": "Leeds",
                                        "may_thank": True}},
                }}}},
            "responses": {
                "201": _json("FundEntryCreated",
                             "Recorded (or, for a retried key, recorded before).", example={
                                 "entry": {"id": 412, "campaign": "2022-11",
                                           "amount_pence": 2500, "received_on": "2022-11-13",
                                           "source": "online", "donor_name": None,
                                           "donor_town": None, "may_thank": False,
                                           "via": "api:payments",
                                           "created_at": "2022-11-13T09:41:07Z"},
                                 "campaign": FIGURES_EXAMPLE | {
                                     "raised_pence": 659700, "remaining_pence": 1140300,
                                     "percent": 36.6}}),
                "400": _json("Error", "Malformed JSON, a missing field, a wrong type or a "
                                      "missing or malformed Idempotency-Key."),
                "401": {**_json("Error", "No token, or one that is invalid or revoked."),
                        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}},
                "413": _json("Error", "The body is larger than the API accepts (16 KB)."),
                "415": _json("Error", "The body is not JSON."),
                "422": _json("ValidationError", "A value broke a rule (e.g. a date outside "
                             "the campaign, a closed campaign, an amount over the limit), or "
                             "the key was used for a different request."),
                "503": UNAVAILABLE,
            },
        }},
    }
