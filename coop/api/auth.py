"""Bearer-token authentication for JSON views: ``Authorization: Bearer <token>``."""

from __future__ import annotations

from functools import wraps

from flask import abort, g, jsonify, make_response, request

from coop.api import services
from coop.api.models import ApiToken
from coop.extensions import db

REALM = "coop"


def _unauthorised(message: str, *, presented: bool):
    challenge = f'Bearer realm="{REALM}"'
    if presented:
        # RFC 6750 §3: a token was sent but is not accepted.
        challenge += ', error="invalid_token"'
    response = make_response(jsonify(error="Not authorised", message=message), 401)
    response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    abort(response)


def bearer_value(header: str | None) -> str | None:
    """The token from an ``Authorization`` header, or None when there is no Bearer value."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value or None


def require_token() -> ApiToken:
    """The active token sent with this request; otherwise the request ends with a JSON 401.

    It marks the token used; the view's commit saves that.
    """
    header = request.headers.get("Authorization")
    presented = bearer_value(header)
    if presented is None:
        _unauthorised("Send an API token: Authorization: Bearer <token>.", presented=False)
    token = services.authenticate(db.session, presented)
    if token is None:
        _unauthorised("This API token is not valid or has been revoked.", presented=True)
    g.api_token = token
    return token


def token_required(view):
    """Authenticate before the view runs; the token is in ``g.api_token``.

    Use under ``@access("token")``.
    """

    @wraps(view)
    def wrapped(*args, **kwargs):
        require_token()
        return view(*args, **kwargs)

    return wrapped
