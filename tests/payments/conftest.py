"""Payments fixtures: a local stand-in for Stripe's API, an app pointed at it, and webhook
events signed exactly as Stripe signs them (``t=…,v1=HMAC-SHA256(secret, "t.payload")``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

from coop.formatting import LONDON

SECRET_KEY = "sk_test_coop_payments"
WEBHOOK_SECRET = "whsec_test_coop_payments"
BASE_URL = "https://paper.example"
WEBHOOK = "/payments/stripe/webhook"

_ids = itertools.count(1)


def london_today() -> dt.date:
    return dt.datetime.now(LONDON).date()


class StripeStandIn:
    """What the app asked Stripe's API for, and what to answer."""

    def __init__(self):
        self.requests: list[dict] = []
        self.fail_with: int | None = None
        self.last_session_id: str | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: dict | str, content_type="application/json"):
                data = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                params = dict(parse_qsl(body, keep_blank_values=True))
                stand_in.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "params": params})
                if stand_in.fail_with:
                    return self._send(stand_in.fail_with, {"error": {
                        "type": "api_error", "message": "stand-in told to fail"}})
                if self.path != "/v1/checkout/sessions":
                    return self._send(404, {"error": {"type": "invalid_request_error",
                                                      "message": "no such path"}})
                session_id = f"cs_test_{next(_ids):06d}"
                stand_in.last_session_id = session_id
                return self._send(200, {
                    "id": session_id, "object": "checkout.session",
                    "url": f"{stand_in.url}/checkout/{session_id}",
                    "mode": params.get("mode"), "metadata": {},
                })

            def do_GET(self):  # noqa: N802 - the hosted page the reader is sent to
                if self.path.startswith("/checkout/"):
                    return self._send(200, "<!doctype html><title>Stand-in Checkout</title>"
                                           "<h1>Stand-in Checkout</h1>", "text/html")
                return self._send(404, {"error": {"message": "no such page"}})

        return Handler

    def forget(self) -> None:
        self.requests.clear()
        self.fail_with = None
        self.last_session_id = None

    def checkout_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"] == "/v1/checkout/sessions"]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def _stripe_server():
    """One stand-in per worker (a server started per test cost more than most tests)."""
    stand_in = StripeStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def stripe_api(_stripe_server):
    """The worker's stand-in, with nothing asked of it yet and told to answer normally."""
    _stripe_server.forget()
    return _stripe_server


@pytest.fixture
def stripe_config(stripe_api) -> dict:
    return {"STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": stripe_api.url, "STRIPE_MAX_NETWORK_RETRIES": 0,
            "BASE_URL": BASE_URL, "RATELIMIT_ENABLED": False}


@pytest.fixture
def app(make_app, stripe_config):
    """In tests/payments the app has Stripe configured (pointed at the worker's stand-in, so
    the settings are the same in every test and the app is shared like the default one)."""
    return make_app.shared(**stripe_config)


@pytest.fixture
def plain_app(make_app):
    """An app without any Stripe settings, as ``make run`` starts it."""
    return make_app()


@pytest.fixture
def make_campaign(app):
    from coop.extensions import db
    from coop.fund import services

    def factory(slug: str = "this-month", *, opens_on=None, deadline=None,
                target_pence: int = 1_800_000, donate_url: str = "https://example.org/give"):
        today = london_today()
        with app.app_context():
            campaign = services.create_campaign(
                db.session, name=f"Campaign {slug}", slug=slug, target_pence=target_pence,
                opens_on=opens_on or today - dt.timedelta(days=10),
                deadline=deadline or today + dt.timedelta(days=17), donate_url=donate_url)
            db.session.commit()
            return campaign.id

    return factory


@pytest.fixture
def campaign_id(make_campaign):
    return make_campaign()


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header, computed here (not by the library under test)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event(type_: str, obj: dict, *, event_id: str | None = None, created: int | None = None,
          livemode: bool = False) -> dict:
    return {"id": event_id or f"evt_test_{next(_ids):06d}", "object": "event",
            "api_version": "2025-03-31.basil", "created": created or int(time.time()),
            "livemode": livemode, "type": type_, "data": {"object": obj}}


def deliver(client, body: dict | str, *, secret: str = WEBHOOK_SECRET, timestamp=None,
            signature: str | None = None):
    payload = body if isinstance(body, str) else json.dumps(body)
    header = signature if signature is not None else sign(payload, secret, timestamp)
    headers = {"Stripe-Signature": header} if header else {}
    return client.post(WEBHOOK, data=payload, headers=headers,
                       content_type="application/json")


def start_checkout(client, amount: str = "2500", other: str = "", frequency: str = "one_off",
                   **extra):
    return client.post("/payments/give", data={"amount": amount, "other_amount": other,
                                               "frequency": frequency, **extra})


def checkout_row(app, token: str | None = None):
    import sqlalchemy as sa

    from coop.extensions import db
    from coop.payments.models import Checkout

    with app.app_context():
        stmt = sa.select(Checkout).order_by(Checkout.id.desc()).limit(1)
        if token:
            stmt = sa.select(Checkout).where(Checkout.token == token)
        row = db.session.scalar(stmt)
        db.session.expunge_all()
        return row


def session_completed(checkout, *, amount: int | None = None, intent: str | None = None,
                      currency: str = "gbp", payment_status: str = "paid") -> dict:
    monthly = checkout.mode == "subscription"
    return {
        "id": checkout.stripe_session_id, "object": "checkout.session",
        "mode": checkout.mode, "payment_status": payment_status,
        "amount_total": checkout.amount_pence if amount is None else amount,
        "currency": currency, "client_reference_id": checkout.token,
        "customer": "cus_test_1",
        "payment_intent": None if monthly else (intent or f"pi_test_{checkout.id}"),
        "subscription": f"sub_test_{checkout.id}" if monthly else None,
        "metadata": {"coop_checkout": str(checkout.id), "coop_token": checkout.token},
    }


def invoice_paid(checkout, *, invoice: str, amount: int | None = None,
                 paid_at: int | None = None, intent: str | None = None) -> dict:
    """In the current API shape (the subscription under ``parent``)."""
    return {
        "id": invoice, "object": "invoice", "currency": "gbp",
        "amount_paid": checkout.amount_pence if amount is None else amount,
        "status": "paid", "status_transitions": {"paid_at": paid_at or int(time.time())},
        "parent": {"type": "subscription_details", "subscription_details": {
            "subscription": f"sub_test_{checkout.id}",
            "metadata": {"coop_checkout": str(checkout.id), "coop_token": checkout.token}}},
        "payments": {"data": [{"payment": {"type": "payment_intent",
                                           "payment_intent": intent or f"pi_{invoice}"}}]},
    }
