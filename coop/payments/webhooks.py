"""``POST /payments/stripe/webhook``: Stripe's signed events, kept once and acted on.

The signature is checked by Stripe's library before anything is read or written; a bad one
gets 400 and leaves no trace. A good one is answered 200 as soon as it is kept, whatever
became of it (recorded, ignored, or waiting for staff), so Stripe does not send it again;
only when the database can't keep it does Stripe get a 500 and retry later.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from coop.access import access
from coop.extensions import csrf, db
from coop.payments import gateway, services

bp = Blueprint("payments_webhooks", __name__, url_prefix="/payments")


@bp.route("/stripe/webhook", methods=["POST"])
@access("public")  # authenticated by the Stripe-Signature header, checked below
@csrf.exempt
def stripe_webhook():
    """:raise 400: unsigned, forged, stale or malformed; 404 when Stripe is not configured."""
    from flask import abort, request

    if not gateway.configured():
        abort(404)
    payload = request.get_data(cache=False)
    try:
        event = gateway.verify_event(payload, request.headers.get("Stripe-Signature"))
    except gateway.BadSignature:
        return jsonify(error="invalid signature"), 400
    try:
        stored = services.receive_event(db.session, event, payload.decode("utf-8"))
    except services.DuplicateEvent:
        db.session.rollback()
        return jsonify(received=True, duplicate=True), 200
    db.session.commit()
    return jsonify(received=True, status=stored.status), 200
