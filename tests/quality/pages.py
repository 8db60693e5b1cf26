"""The page inventory: every GET route of the app, built from its URL map, rendered with the
demo data as the role the route needs, plus every form page re-shown with errors.

A route that cannot be rendered with the demo data must be listed in ``UNRENDERABLE`` with the
reason; a route that is neither rendered nor listed fails ``test_every_route_is_covered``, so a
new page cannot escape the HTML, accessibility and header checks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import Flask
from werkzeug.routing import Rule

#: the demo accounts from seeds/accounts.toml
DEMO = {
    "member": ("member@example.org", "member-demo-password"),
    "staff": ("staff@example.org", "staff-demo-password"),
    "admin": ("admin@example.org", "admin-demo-password"),
}
ROLE_FOR_LEVEL = {"public": "anonymous", "member": "member", "staff": "staff",
                  "admin": "admin", "token": "anonymous"}

#: endpoints Flask serves itself
EXEMPT = {"static"}

#: routes that are not rendered, with the reason (the reason is the point: keep it true)
UNRENDERABLE: dict[str, str] = {
    "fund_staff.ledger_entry": "a redirect to the ledger page that holds the line (its "
                               "page and anchor: tests/fund/test_thanks.py)",
}

#: POST routes never sent an empty form by the inventory, with the reason
NO_EMPTY_POST = {
    "payments.enquiry": "its form is one Pay button: a POST starts a Stripe Checkout and "
                        "redirects to it (tests/payments covers it)",
    "accounts.logout": "ends the session the other pages are fetched with",
    "accounts.confirm_email": "its form is one Confirm button: a POST moves the demo member "
                              "to another address",
    "newsletter.confirm": "its form is one Confirm button: a POST would use up the demo link "
                          "that the browser checks open afterwards",
    "accounts.login_code": "its form exists only between the password and the code; without "
                           "a password typed first the page (checked on GET) says to log in "
                           "again",
}

#: form pages whose empty POST is accepted on purpose (not re-shown with errors), with reason
EMPTY_POST_ACCEPTED: dict[str, str] = {
    "newsletter.unsubscribe": "its form is one Unsubscribe button: the POST unsubscribes",
}


def _first(session, sql: str, **params):
    return session.execute(sa.text(sql), params).scalar()


def _member_id(session) -> int | None:
    return _first(session, "SELECT id FROM users WHERE email = :e", e=DEMO["member"][0])


def _enquiry_of_member(session):
    member = _member_id(session)
    value = _first(session, "SELECT id FROM share_enquiries WHERE user_id = :u ORDER BY id",
                   u=member)
    return None if value is None else {"enquiry_id": value}


def _lookup(table: str, column: str, arg: str, where: str = "") -> Callable:
    def find(session):
        value = _first(session, f"SELECT {column} FROM {table} {where} ORDER BY id")  # noqa: S608
        return None if value is None else {arg: value}

    return find


_campaign_id = _lookup("fund_campaigns", "id", "campaign_id")
_event_id = _lookup("events", "id", "event_id")

#: endpoint -> function(session) giving the URL arguments from the demo data (None: no data)
ARGUMENTS: dict[str, Callable] = {
    "fund.campaign": _lookup("fund_campaigns", "slug", "slug"),
    "fund_api.campaign": _lookup("fund_campaigns", "slug", "slug"),
    **{f"fund_staff.{name}": _campaign_id for name in (
        "add_correction", "add_gift", "batch", "campaign", "edit_campaign", "ledger",
        "ledger_csv", "report", "set_total")},
    "shares.member_enquiry": _enquiry_of_member,
    "shares_staff.detail": _lookup("share_enquiries", "id", "enquiry_id"),
    "shares_staff.admit": _lookup("share_enquiries", "id", "enquiry_id",
                                  "WHERE kind = 'shares' AND status = 'payment_received'"),
    "shares_staff.contact": _lookup("share_enquiries", "id", "enquiry_id",
                                    "WHERE status <> 'admitted' AND erased_at IS NULL"),
    "events.event": _lookup("events", "slug", "slug"),
    "events.event_ics": _lookup("events", "slug", "slug"),
    "events.series": _lookup("event_series", "slug", "slug"),
    "events.series_ics": _lookup("event_series", "slug", "slug"),
    "events.manage": lambda session: _registration_link_token(session),
    **{f"events_staff.{name}": _event_id for name in (
        "attendees", "attendees_csv", "edit_event", "event")},
    "events_staff.series": _lookup("event_series", "id", "series_id"),
    "newsletter.confirm": lambda session: _newsletter_confirm_token(session),
    "newsletter.manage": lambda session: _newsletter_link_token(session, "jo.reader@example.org"),
    "newsletter.unsubscribe": lambda session: _newsletter_link_token(
        session, "sam.activist@example.org"),
    "newsletter_staff.subscriber": _lookup("newsletter_subscribers", "id", "subscriber_id"),
    "notices_staff.edit": _lookup("notices", "id", "notice_id"),
    "accounts.confirm_email": lambda session: _email_change_token(session),
    "payments.thanks": lambda session: _demo_checkout(session),
    "payments.cancelled": lambda session: _demo_checkout(session),
    "payments.handoff": lambda session: _demo_checkout(session),
    "payments.enquiry": lambda session: _enquiry_payment_token(session),
    "payments_staff.event": lambda session: _demo_webhook_event(session),
    "accounts.reset_password": lambda session: _password_link_token(session, "reset"),
    "accounts.accept_invitation": lambda session: _password_link_token(session, "invite"),
    **{f"register_staff.{name}": _lookup("register_members", "number", "number",
                                         "WHERE ceased_on IS NULL")
       for name in ("member", "allot", "withdraw", "transfer", "cease", "address", "details")},
    "register.certificate": lambda session: _certificate_of_member(session),
    "register.certificate_pdf": lambda session: _certificate_of_member(session),
}


def _demo_checkout(session):
    """A gift checkout as the gift page leaves it (the demo data has no online payments),
    a day old so its hand-off page shows "expired" rather than leading a browser off-site."""
    import datetime as dt

    from coop.db import now_utc
    from coop.payments.models import Checkout

    token = "demo-checkout-token-0123456789ab"
    if _first(session, "SELECT id FROM payment_checkouts WHERE token = :t", t=token) is None:
        campaign = _first(session, "SELECT id FROM fund_campaigns ORDER BY opens_on DESC")
        session.add(Checkout(token=token, purpose="gift", mode="payment", amount_pence=2500,
                             campaign_id=campaign, stripe_session_id="cs_test_demo",
                             checkout_url="https://checkout.invalid/pay/cs_test_demo",
                             created_at=now_utc() - dt.timedelta(days=1)))
        session.commit()
    return {"token": token}


def _demo_webhook_event(session):
    """A Stripe event waiting for staff (no campaign took it)."""
    from coop.payments.models import WebhookEvent

    event_id = "evt_demo_unplaced"
    found = _first(session, "SELECT id FROM payment_webhook_events WHERE event_id = :e",
                   e=event_id)
    if found is None:
        stored = WebhookEvent(event_id=event_id, type="charge.refunded", status="unplaced",
                              # a long line, as Stripe's are (a receipt's address): it must
                              # scroll inside its box on a phone, not widen the page (QA)
                              payload='{"id": "evt_demo_unplaced", "type": "charge.refunded", '
                                      '"data": {"object": {"id": "ch_demo", "receipt_url": '
                                      '"https://receipts.example.org/acct_1DemoAccount/ch_demo/'
                                      'rcpt_QwErTyUiOpAsDfGhJkLzXcVbNm0123456789"}}}',
                              detail="Refunded through Stripe (ch_demo): this site has no "
                                     "record of the payment.")
        session.add(stored)
        session.commit()
        found = stored.id
    return {"event_id": found}


def _enquiry_payment_token(session):
    from coop.payments.views import enquiry_payment_token

    reference = _first(session, "SELECT reference FROM share_enquiries "
                                "WHERE status = 'new' AND erased_at IS NULL ORDER BY id")
    return None if reference is None else {"token": enquiry_payment_token(reference)}


def _certificate_of_member(session):
    """The demo member's first allotment: they may open its certificate."""
    value = _first(session, "SELECT t.id FROM register_transactions t JOIN register_members m "
                            "ON m.id = t.member_id WHERE m.user_id = :u AND t.kind = 'allotment' "
                            "ORDER BY t.id", u=_member_id(session))
    return None if value is None else {"transaction_id": value}


def _registration_link_token(session):
    """The emailed link's token of a demo registration for the latest event (the stored token,
    signed): a link for an event long over no longer opens."""
    from coop.events import links

    stored = _first(session, "SELECT r.token FROM event_registrations r JOIN events e "
                             "ON e.id = r.event_id ORDER BY e.ends_at DESC, r.id")
    return None if stored is None else {"token": links.sign(stored)}


def _newsletter_link_token(session, email: str):
    """The unsubscribe/manage link token of a demo subscriber (signed, not stored)."""
    from coop.newsletter import services

    subscriber = services.get_by_email(session, email)
    return None if subscriber is None else {"token": services.unsubscribe_token(subscriber)}


def _newsletter_confirm_token(session):
    """Confirmation tokens are stored only hashed: issue a fresh one to the pending demo reader."""
    from coop.db import now_utc
    from coop.newsletter import services

    key = str(session.get_bind().url)
    if key not in _CONFIRM_TOKENS:  # the GET page and the empty POST share one token
        subscriber = services.get_by_email(session, "alex.new@example.org")
        if subscriber is None:
            return None
        _CONFIRM_TOKENS[key] = services.issue_confirm_token(session, subscriber, now_utc())
        session.commit()
    return {"token": _CONFIRM_TOKENS[key]}


_CONFIRM_TOKENS: dict[str, str] = {}


def _email_change_token(session):
    from flask import current_app

    from coop.accounts import services
    from coop.accounts.models import User

    user = session.get(User, _member_id(session))
    if user is None:
        return None
    if user.email_change_nonce is None:  # as if the demo member had asked for the change
        services.request_email_change(session, user, "member.moved@example.org")
        session.commit()
    return {"token": services.email_change_token(current_app.config["SECRET_KEY"], user,
                                                 "member.moved@example.org")}


_PASSWORD_TOKENS: dict[tuple[str, str], str] = {}


def _password_link_token(session, purpose: str):
    """A reset link for an account of its own (the demo accounts log in, which would end a
    reset link), or an invitation for an invited account; the GET page and the empty POST
    share one token."""
    from coop.accounts import services

    key = (str(session.get_bind().url), purpose)
    if key not in _PASSWORD_TOKENS:
        email = f"quality.{purpose}@example.org"
        user = services.get_by_email(session, email)
        if user is None:
            user = (services.invite_user(session, email) if purpose == "invite" else
                    services.create_user(session, email, "a long quality passphrase"))
        _PASSWORD_TOKENS[key] = services.password_token(user, purpose)
        session.commit()
    return {"token": _PASSWORD_TOKENS[key]}


@dataclass
class Page:
    """One thing to fetch: ``key`` names it in test ids and in the saved file."""

    key: str
    endpoint: str
    role: str
    method: str = "GET"
    url: str = ""
    reason: str = ""  # why it could not be built (empty when it could)
    data: dict = field(default_factory=dict)


@functools.cache
def url_map_app() -> Flask:
    """An app used only for its URL map, so tests can be parametrized at collection time."""
    from coop import create_app

    return create_app({"COOP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def level(app: Flask, endpoint: str) -> str:
    return getattr(app.view_functions[endpoint], "access_level", "public")


def get_rules(app: Flask) -> list[Rule]:
    return sorted(
        (r for r in app.url_map.iter_rules() if r.endpoint not in EXEMPT and "GET" in r.methods),
        key=lambda r: r.endpoint,
    )


def form_rules(app: Flask) -> list[Rule]:
    """Routes that show a form on GET and take it back on POST: re-shown with errors."""
    return sorted(
        (r for r in app.url_map.iter_rules()
         if r.endpoint not in EXEMPT | set(NO_EMPTY_POST) and {"GET", "POST"} <= r.methods
         and level(app, r.endpoint) != "token"),
        key=lambda r: r.endpoint,
    )


def page_keys(app: Flask) -> list[str]:
    """Every page id the inventory will produce (known before any database exists)."""
    keys = [r.endpoint for r in get_rules(app)]
    keys += [f"{r.endpoint}--errors" for r in form_rules(app)]
    return keys


def build(app: Flask, session) -> list[Page]:
    """The pages, with URLs from the demo data in ``session``."""
    pages = []
    for rule in get_rules(app):
        pages.append(_page(app, session, rule, rule.endpoint, "GET"))
    for rule in form_rules(app):
        pages.append(_page(app, session, rule, f"{rule.endpoint}--errors", "POST"))
    return pages


def _page(app, session, rule: Rule, key: str, method: str) -> Page:
    role = ROLE_FOR_LEVEL[level(app, rule.endpoint)]
    page = Page(key=key, endpoint=rule.endpoint, role=role, method=method)
    if rule.endpoint in UNRENDERABLE:
        page.reason = UNRENDERABLE[rule.endpoint]
        return page
    values: dict | None = {}
    if rule.arguments:
        finder = ARGUMENTS.get(rule.endpoint)
        if finder is None:
            page.reason = (f"no way to find {sorted(rule.arguments)} for {rule.endpoint}: add it "
                           "to ARGUMENTS in tests/quality/pages.py (or to UNRENDERABLE, with why)")
            return page
        try:
            values = finder(session)
        except sa.exc.SQLAlchemyError as err:
            session.rollback()
            values = None
            page.reason = f"lookup failed: {err.__class__.__name__}: {err}"
            return page
        if values is None:
            page.reason = (f"the demo data has nothing for {rule.endpoint}: add some to its "
                           "seed, or list it in UNRENDERABLE with why")
            return page
    with app.test_request_context():
        from flask import url_for

        page.url = url_for(rule.endpoint, **values)
    return page
