"""Online payments through Stripe Checkout: gifts to the fund (once or monthly), supporter
pledges and share enquiries paid by card, recorded from Stripe's signed webhooks."""

from __future__ import annotations

from flask import Flask

#: defaults; override with COOP_<NAME> environment variables or the app config
DEFAULTS = {
    #: Stripe's secret API key (sk_live_… or sk_test_…); empty means online payments are off
    "STRIPE_SECRET_KEY": "",
    #: the signing secret of the webhook endpoint (whsec_…); needed as well as the key
    "STRIPE_WEBHOOK_SECRET": "",
    #: another address for Stripe's API (a local stand-in in tests); empty: the library's own
    "STRIPE_API_BASE": "",
    #: where staff links to payments point (test-mode objects get /test)
    "STRIPE_DASHBOARD_URL": "https://dashboard.stripe.com",
    #: how old (seconds) a signed webhook may be before it is refused as stale
    "STRIPE_WEBHOOK_TOLERANCE": 300,
    #: seconds to wait for Stripe when starting a Checkout, and retries of a failed call
    "STRIPE_TIMEOUT": 10,
    "STRIPE_MAX_NETWORK_RETRIES": 1,
    #: the amounts offered on the gift page, in whole pounds
    "PAYMENTS_PRESET_POUNDS": "5 10 25 50",
    #: Checkouts one address may start (each costs a call to Stripe); as for share
    #: enquiries, enough for a readers' meeting giving on one wifi (one address)
    "PAYMENTS_RATE_LIMIT": "60 per hour",
}


def init_app(app: Flask) -> None:
    from coop import hooks
    from coop.payments import gateway, models, staff, views, webhooks  # noqa: F401 - tables

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.register_blueprint(views.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(staff.bp)
    app.jinja_env.globals["enquiry_payment_url"] = views.enquiry_payment_url
    hooks.register(app, "donate_link", _donate_link)
    hooks.register(app, "entry_links", staff.entry_links)
    hooks.register(app, "staff_links", staff.staff_links)


def _donate_link(_fund) -> str | None:
    """With Stripe configured, "Donate today" opens our own gift page."""
    from flask import url_for

    from coop.payments import gateway

    return url_for("payments.give") if gateway.configured() else None
