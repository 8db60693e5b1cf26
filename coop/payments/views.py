"""Public payment pages: give to the fund, pay a share enquiry or supporter pledge, and the
pages Stripe Checkout sends the reader back to."""

from __future__ import annotations

import re

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from itsdangerous import BadSignature, URLSafeSerializer

from coop.access import access
from coop.db import now_utc
from coop.extensions import db, limiter
from coop.forms import show_error
from coop.fund.models import Campaign
from coop.payments import gateway, services
from coop.payments.forms import GiftForm
from coop.timeutil import london_today

bp = Blueprint("payments", __name__, url_prefix="/payments")

#: our checkout tokens: secrets.token_urlsafe(24)
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")
UNREACHABLE = ("We couldn't reach our card payment provider just now, so nothing was taken. "
               "Please try again in a minute.")


def _rate_limit() -> str:
    return current_app.config["PAYMENTS_RATE_LIMIT"]


def _counts(response) -> bool:
    return response.status_code == 303


#: starting a Checkout costs an API call: a few a minute from one address is plenty
checkout_limit = limiter.shared_limit(_rate_limit, scope="payments-checkout", methods=["POST"],
                                      deduct_when=_counts)


def _require_stripe() -> None:
    if not gateway.configured():
        abort(404)


def _checkout_or_404(token: str):
    if not TOKEN_RE.fullmatch(token or ""):
        abort(404)
    checkout = services.checkout_by_token(db.session, token)
    if checkout is None:
        abort(404)
    return checkout


@bp.route("/give", methods=["GET", "POST"])
@access("public")
@checkout_limit
def give():
    """Give to this month's fighting fund, once or monthly, then pay on Stripe Checkout.

    :raise 404: when online payments are not configured (the fund links elsewhere then).
    """
    _require_stripe()
    today = london_today(now_utc())
    campaign = services.open_campaign_on(db.session, today)
    form = GiftForm()
    chosen = request.args.get("amount")
    if request.method == "GET" and chosen in {c.value for c in form.amount.choices}:
        form.amount.data = chosen
    if campaign is None:
        return render_template("payments/give_closed.html"), (
            200 if request.method == "GET" else 409)
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("payments/give.html", form=form, campaign=campaign), status
    try:
        checkout, _url = services.start_gift(
            db.session, campaign, form.pence, monthly=form.frequency.data == "monthly",
            donor_name=form.donor_name.data, donor_town=form.donor_town.data,
            message=form.message.data, may_thank=form.may_thank.data)
    except services.PaymentError as err:
        db.session.rollback()
        show_error(form, err)
        return render_template("payments/give.html", form=form, campaign=campaign), 422
    except gateway.GatewayError:
        db.session.rollback()
        form.form_errors.append(UNREACHABLE)
        return render_template("payments/give.html", form=form, campaign=campaign), 503
    db.session.commit()
    return redirect(url_for("payments.handoff", token=checkout.token), code=303)


@bp.route("/checkout/<token>")
@access("public")
def handoff(token: str):
    """On our own site, the step to Stripe's hosted page: the address Stripe gave us when the
    session was created (never one from the request), followed at once by a meta refresh,
    with a link for anyone whose browser doesn't. A form can't redirect there itself: the
    site's ``form-action 'self'`` policy stops a form's POST from leading off-site.

    :raise 404: for a token that is not one of our checkouts.
    """
    checkout = _checkout_or_404(token)
    if checkout.status != "created" or not checkout.checkout_url:
        return redirect(url_for("payments.thanks", token=checkout.token))
    enquiry = _enquiry_of(checkout)
    if enquiry is not None and (enquiry.is_erased or enquiry.is_closed
                                or services.nothing_to_pay(db.session, enquiry)):
        # an older page of an enquiry since paid (by card, or by cheque or transfer that
        # staff recorded) or closed: never on to a second payment; its page says why
        page = None if enquiry.is_erased else enquiry_payment_url(enquiry.reference)
        if page is None:  # erased, or Stripe no longer configured: no payment pages
            abort(404)
        return redirect(page, code=303)
    expired = now_utc() - checkout.created_at > services.CHECKOUT_LIFETIME
    response = current_app.make_response(render_template(
        "payments/handoff.html", checkout=checkout, url=checkout.checkout_url, expired=expired,
        enquiry=enquiry))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/thank-you/<token>")
@access("public")
def thanks(token: str):
    """Where Stripe sends the reader after paying: the gift once the webhook has recorded
    it, or word that it is on its way.

    :raise 404: for a token that is not one of our checkouts.
    """
    checkout = _checkout_or_404(token)
    payments = services.payments_of(db.session, checkout)
    received = [p for p in payments if p.amount_pence > 0]
    campaign = entry = None
    if received and received[0].entry_id is not None:
        from coop.fund.models import Entry

        entry = db.session.get(Entry, received[0].entry_id)
        campaign = db.session.get(Campaign, entry.campaign_id)
    elif checkout.campaign_id is not None:
        campaign = db.session.get(Campaign, checkout.campaign_id)
    # what went back (refunds, lost disputes), so the page doesn't go on saying "your £25 is
    # in" after it was refunded (QA), nor promise thanks for a name declined or taken back
    refunded = -sum(p.amount_pence for p in payments if p.amount_pence < 0)
    response = current_app.make_response(render_template(
        "payments/thanks.html", checkout=checkout, payment=received[0] if received else None,
        campaign=campaign, enquiry=_enquiry_of(checkout), refunded=refunded,
        held=sum(p.amount_pence for p in payments),
        thanks=entry.thanks_check if entry is not None else None))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/cancelled/<token>")
@access("public")
def cancelled(token: str):
    """Where Stripe sends the reader who went back without paying.

    :raise 404: for a token that is not one of our checkouts.
    """
    checkout = _checkout_or_404(token)
    if checkout.status != "created":  # it was paid after all (another tab, Back): say so
        return redirect(url_for("payments.thanks", token=checkout.token))
    return render_template("payments/cancelled.html", checkout=checkout,
                           enquiry=_enquiry_of(checkout))


def _enquiry_of(checkout):
    if checkout.enquiry_id is None:
        return None
    from coop.shares.models import Enquiry

    return db.session.get(Enquiry, checkout.enquiry_id)


# ---------------------------------------------------------------------------------------------
# Share enquiries and supporter pledges


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="coop.payments.enquiry")


def enquiry_payment_token(reference: str) -> str:
    return _serializer().dumps(reference)


def enquiry_payment_url(reference: str | None, *, external: bool = False) -> str | None:
    """The signed link that pays an enquiry online, or None without Stripe configured."""
    if not reference or not gateway.configured():
        return None
    token = enquiry_payment_token(reference)
    if external:
        from coop.urls import external_url

        return external_url("payments.enquiry", token=token)
    return url_for("payments.enquiry", token=token)


@bp.route("/enquiry/<token>", methods=["GET", "POST"])
@access("public")
@checkout_limit
def enquiry(token: str):
    """Pay a share enquiry or supporter pledge online, from the link on its thank-you page
    and in its email (signed, so references can't be guessed into it).

    :raise 404: a link that isn't ours, or Stripe not configured.
    """
    _require_stripe()
    from coop.shares import services as shares
    from coop.shares.models import Enquiry

    try:
        reference = _serializer().loads(token)
    except BadSignature:
        abort(404)
    enquiry_ = shares.get_by_reference(db.session, reference) if isinstance(reference,
                                                                             str) else None
    if not isinstance(enquiry_, Enquiry) or enquiry_.is_erased:
        abort(404)
    paid = services.enquiry_paid(db.session, enquiry_)
    settled = services.nothing_to_pay(db.session, enquiry_) or enquiry_.is_closed
    error = None
    if request.method == "POST" and not settled:
        from coop.forms import EmptyForm

        if EmptyForm().validate_on_submit():
            try:
                checkout, _url = services.start_enquiry_payment(db.session, enquiry_)
            except services.PaymentError as err:
                db.session.rollback()
                error = err.message
            except gateway.GatewayError:
                db.session.rollback()
                error = UNREACHABLE
            else:
                db.session.commit()
                return redirect(url_for("payments.handoff", token=checkout.token), code=303)
        else:
            error = "The form expired; please press the button again."
    if request.method == "GET":
        status = 200
    elif settled:
        status = 409
    else:
        status = 503 if error == UNREACHABLE else 422
    return render_template("payments/enquiry.html", enquiry=enquiry_, paid=paid,
                           error=error), status
