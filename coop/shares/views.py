"""Public pages: the share enquiry and supporter forms, the thank-you page, the member's view."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from coop.access import access
from coop.extensions import db, limiter
from coop.newsletter import services as newsletter
from coop.shares import services
from coop.shares.forms import (
    NEWSLETTER_HINT,
    NEWSLETTER_LABEL,
    EnquiryForm,
    ShareEnquiryForm,
    SupportForm,
)
from coop.shares.mail import send_acknowledgement
from coop.shares.models import Enquiry, Kind

log = logging.getLogger(__name__)

bp = Blueprint("shares", __name__)

#: the session key holding the last reference, for the thank-you page after the redirect
THANKS_KEY = "shares_thanks"


def _rate_limit() -> str:
    return current_app.config["SHARES_RATE_LIMIT"]


def _counts(response) -> bool:
    """Invalid forms shown again (422) don't use up the reader's allowance."""
    return response.status_code != 422


#: one allowance per address shared by both forms, so a bot can't double it
enquiry_limit = limiter.shared_limit(_rate_limit, scope="share-enquiries", methods=["POST"],
                                     deduct_when=_counts)


def privacy_url() -> str:
    return current_app.config.get("PRIVACY_URL") or url_for("shares.privacy")


def _prefill(form: EnquiryForm) -> None:
    if request.method == "GET" and current_user.is_authenticated:
        form.name.data = current_user.name
        form.email.data = current_user.email


@bp.route("/shares", methods=["GET", "POST"])
@access("public")
@enquiry_limit
def index():
    """What owning shares means, and the enquiry form.

    :raise 429: after ``SHARES_RATE_LIMIT`` enquiries from one address.
    """
    form = ShareEnquiryForm()
    _prefill(form)
    if request.method == "POST":
        if form.is_spam:
            return _discard_spam()
        if form.validate_on_submit():
            return _save(form, Kind.SHARES, payment_method=form.payment_method.data,
                         existing_holder=form.existing_holder.data,
                         member_number=form.member_number.data,
                         min_pence=current_app.config["SHARES_MIN_POUNDS"] * 100,
                         max_pence=current_app.config["SHARES_MAX_POUNDS"] * 100)
        return render_template("shares/index.html", form=form), 422
    return render_template("shares/index.html", form=form)


@bp.route("/support", methods=["GET", "POST"])
@access("public")
@enquiry_limit
def support():
    """Become a supporter: a one-off or monthly pledge."""
    form = SupportForm()
    _prefill(form)
    if request.method == "POST":
        if form.is_spam:
            return _discard_spam()
        if form.validate_on_submit():
            return _save(form, Kind.SUPPORTER, frequency=form.frequency.data,
                         min_pence=current_app.config["SUPPORT_MIN_POUNDS"] * 100,
                         max_pence=current_app.config["SUPPORT_MAX_POUNDS"] * 100)
        return render_template("shares/support.html", form=form), 422
    return render_template("shares/support.html", form=form)


def _discard_spam():
    """A filled honeypot: look exactly like success, save nothing."""
    log.info("share enquiry honeypot filled; discarded")
    session.pop(THANKS_KEY, None)
    return redirect(url_for("shares.thanks"))


def _save(form: EnquiryForm, kind: Kind, **fields):
    contact = services.Contact(
        name=form.name.data, email=form.email.data, phone=form.phone.data or "",
        address=form.address.data, postcode=form.postcode.data or "", country=form.country.data,
    )
    user = current_user if current_user.is_authenticated else None
    try:
        enquiry = services.submit(
            db.session, kind, contact, form.amount.pence,
            newsletter_opt_in=form.newsletter_opt_in.data, user=user, **fields,
        )
    except services.EnquiryError as err:
        db.session.rollback()
        form.form_errors.append(str(err))
        template = "shares/index.html" if kind == Kind.SHARES else "shares/support.html"
        return render_template(template, form=form), 422
    db.session.commit()  # saved before anything else can go wrong

    sent = send_acknowledgement(db.session, enquiry)
    db.session.commit()
    if enquiry.newsletter_opt_in:
        _request_newsletter(enquiry)
    session[THANKS_KEY] = {"reference": enquiry.reference, "kind": enquiry.kind,
                           "email_sent": sent}
    return redirect(url_for("shares.thanks"))


def _request_newsletter(enquiry: Enquiry) -> None:
    """Hand the opt-in to the newsletter's double opt-in (after the enquiry is saved)."""
    source = "shares-form" if enquiry.kind == Kind.SHARES else "support-form"
    try:
        # The consent record keeps the words the reader actually ticked.
        newsletter.request_subscription(db.session, enquiry.email, name=enquiry.name,
                                        source=source,
                                        wording=f"{NEWSLETTER_LABEL}. {NEWSLETTER_HINT}")
        db.session.commit()
    except Exception:  # noqa: BLE001 - another feature's failure must not lose the enquiry
        db.session.rollback()
        log.exception("newsletter opt-in for %s could not be passed on", enquiry.reference)


@bp.route("/shares/thank-you")
@access("public")
def thanks():
    """After either form. Shows the reference of the enquiry sent in this browser session."""
    info = session.get(THANKS_KEY) or {}
    return render_template("shares/thanks.html", info=info)


@bp.route("/privacy")
@access("public")
def privacy():
    return render_template("shares/privacy.html")


@bp.route("/account/enquiries/<int:enquiry_id>")
@access("member")
def member_enquiry(enquiry_id: int):
    """A member's own enquiry. :raise 404: for anyone else's, so ids reveal nothing."""
    enquiry = db.session.get(Enquiry, enquiry_id)
    if enquiry is None or enquiry.user_id != current_user.id:
        abort(404)
    return render_template("shares/member_enquiry.html", enquiry=enquiry)
