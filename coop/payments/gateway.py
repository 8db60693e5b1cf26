"""The only module that talks to Stripe: Checkout sessions out, signed webhook bodies in.

Both go through Stripe's own library. ``STRIPE_API_BASE`` points the client at another
address (tests use a local stand-in); left empty, the library's own default is used.
"""

from __future__ import annotations

import json
import time
from typing import Any

import stripe
from flask import current_app

from coop.payments.models import Checkout
from coop.urls import external_url

CURRENCY = "gbp"


class GatewayError(Exception):
    """Stripe could not be reached or refused the request: nothing was taken."""


class BadSignature(Exception):
    """A webhook body that is unsigned, forged, stale or not a Stripe event."""


def configured(app=None) -> bool:
    """Online payments are on when both the secret key and the webhook secret are set."""
    config = (app or current_app).config
    return bool(config.get("STRIPE_SECRET_KEY") and config.get("STRIPE_WEBHOOK_SECRET"))


def client() -> stripe.StripeClient:
    config = current_app.config
    options: dict[str, Any] = {
        "max_network_retries": int(config["STRIPE_MAX_NETWORK_RETRIES"]),
        "http_client": stripe.new_default_http_client(timeout=float(config["STRIPE_TIMEOUT"])),
    }
    if config.get("STRIPE_API_BASE"):
        options["base_addresses"] = {"api": config["STRIPE_API_BASE"]}
    return stripe.StripeClient(config["STRIPE_SECRET_KEY"], **options)


def checkout_params(checkout: Checkout, *, description: str, campaign=None,
                    customer_email: str | None = None) -> dict:
    """What we ask Stripe Checkout for: one line in pence and ``gbp``, our ids in the
    metadata of the session and of the payment or subscription it makes, and return URLs
    built from ``BASE_URL`` that name only our own checkout token."""
    metadata = {"coop_checkout": str(checkout.id), "coop_token": checkout.token,
                "purpose": checkout.purpose}
    if campaign is not None:
        metadata["campaign"] = campaign.slug
        metadata["campaign_id"] = str(campaign.id)
    if checkout.enquiry_id is not None:
        metadata["enquiry_id"] = str(checkout.enquiry_id)
    price_data: dict[str, Any] = {
        "currency": CURRENCY,
        "unit_amount": checkout.amount_pence,
        "product_data": {"name": description},
    }
    if checkout.mode == "subscription":
        price_data["recurring"] = {"interval": "month"}
    params: dict[str, Any] = {
        "mode": checkout.mode,
        "line_items": [{"price_data": price_data, "quantity": 1}],
        "success_url": external_url("payments.thanks", token=checkout.token),
        "cancel_url": external_url("payments.cancelled", token=checkout.token),
        "client_reference_id": checkout.token,
        "metadata": metadata,
    }
    if checkout.mode == "subscription":
        params["subscription_data"] = {"metadata": metadata, "description": description}
    else:
        params["payment_intent_data"] = {"metadata": metadata, "description": description}
        if checkout.purpose != "shares":
            params["submit_type"] = "donate"
    if customer_email:
        params["customer_email"] = customer_email
    return params


def create_checkout_session(params: dict, *, idempotency_key: str) -> tuple[str, str]:
    """Create the hosted Checkout session; return ``(session id, its URL)``.

    :raise GatewayError: Stripe was unreachable or refused; nothing was taken.
    """
    try:
        created = client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": idempotency_key})
    except stripe.StripeError as err:
        current_app.logger.warning("Stripe Checkout session not created: %s", err)
        raise GatewayError(str(err)) from err
    session_id, url = getattr(created, "id", None), getattr(created, "url", None)
    if (not isinstance(session_id, str) or not isinstance(url, str) or len(url) > 2000
            or not url.startswith(("https://", "http://"))):
        raise GatewayError("Stripe answered without a Checkout address")
    return session_id, url


def _signed_at(signature: str) -> int:
    """The first ``t=`` of a ``Stripe-Signature`` the library has accepted: the one it
    checked (so there is one, and it is a number)."""
    return next(int(item.split("=")[1]) for item in signature.split(",")
                if item.split("=")[0] == "t")


def verify_event(payload: bytes, signature: str | None) -> dict:
    """The event in a webhook body, once the library has checked its ``Stripe-Signature``
    against ``STRIPE_WEBHOOK_SECRET`` (and that it is at most ``STRIPE_WEBHOOK_TOLERANCE``
    seconds old).

    :raise BadSignature: unsigned, forged, stale, or not a JSON event.
    """
    config = current_app.config
    tolerance = int(config["STRIPE_WEBHOOK_TOLERANCE"])
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            text, signature, config["STRIPE_WEBHOOK_SECRET"], tolerance)
        event = json.loads(text)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError,
            RecursionError) as err:  # a signed body nested 100,000 deep (QA: a 500)
        raise BadSignature(str(err)) from None
    if tolerance and _signed_at(signature) > time.time() + tolerance:
        # the library checks only the lower bound (QA: signed a day ahead was taken); 0 means
        # no check of the time either way, as for the library (review)
        raise BadSignature("Timestamp in the future")
    if (not isinstance(event, dict) or not isinstance(event.get("id"), str)
            or not isinstance(event.get("type"), str)
            or not isinstance(event.get("data"), dict)
            or not isinstance(event["data"].get("object"), dict)
            or not 0 < len(event["id"]) <= 255 or len(event["type"]) > 100):
        raise BadSignature("not a Stripe event")
    return event


def dashboard_url(kind: str, stripe_id: str | None, *, livemode: bool) -> str | None:
    """A link to an object in Stripe's dashboard (``STRIPE_DASHBOARD_URL``)."""
    if not stripe_id:
        return None
    base = current_app.config["STRIPE_DASHBOARD_URL"].rstrip("/")
    mode = "" if livemode else "/test"
    return f"{base}{mode}/{kind}/{stripe_id}"
