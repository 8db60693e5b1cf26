"""Public pages: the share enquiry and supporter forms, the thank-you page, the member's view."""

from __future__ import annotations

import datetime as dt
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
from limits import parse
from sqlalchemy.exc import IntegrityError

from coop.access import access
from coop.db import now_utc
from coop.extensions import db
from coop.forms import redraws_on_stale_token
from coop.mail import normalise_email
from coop.newsletter import services as newsletter
from coop.register import services as register
from coop.shares import mail, ratelimit, services
from coop.shares.forms import (
    NEWSLETTER_HINT,
    NEWSLETTER_LABEL,
    EnquiryForm,
    ShareEnquiryForm,
    SupportForm,
)
from coop.shares.models import Enquiry, Kind, Status

log = logging.getLogger(__name__)

bp = Blueprint("shares", __name__)

#: the session key holding the last reference, for the thank-you page after the redirect
THANKS_KEY = "shares_thanks"
#: how long the same enquiry sent again from the same browser is taken for the first
REPEAT_WITHIN = dt.timedelta(hours=1)


def privacy_url() -> str:
    return current_app.config.get("PRIVACY_URL") or url_for("shares.privacy")


def _prefill(form: EnquiryForm) -> None:
    """A logged-in reader's name and email; a member's postal address as the register keeps
    it, and (buying more shares) that they hold shares, with their number."""
    if request.method != "GET" or not current_user.is_authenticated:
        return
    form.name.data = current_user.name
    form.email.data = current_user.email
    member = register.member_for_user(db.session, current_user)
    if member is None or member.ceased_on is not None:
        return
    form.address.data, form.postcode.data, form.country.data = services.split_register_address(
        member.address)
    if hasattr(form, "existing_holder"):
        form.existing_holder.data = True
        form.member_number.data = member.number_text


REFUSED_MESSAGES = {
    "address": "We've had {limit} from this email address in the last {window}, which is as "
               "many as we take. Nothing was sent this time. Please try again later, or write "
               "to the membership secretary at {email}.",
    "client": "We've had a great many enquiries from your network in the last {window}. "
              "Nothing was sent this time. Please try again later, or write to the membership "
              "secretary at {email}.",
}
UNAVAILABLE_MESSAGE = ("We can't take enquiries for a moment, so nothing was sent or saved. "
                       "What you typed is still below: please send it again in a minute.")


@bp.route("/shares", methods=["GET", "POST"])
@redraws_on_stale_token
@access("public")
def index():
    """What owning shares means, and the enquiry form.

    :raise 429: after ``SHARES_RATE_LIMIT`` enquiries from one email address (both forms
        together) or ``SHARES_CLIENT_RATE_LIMIT`` from one client; the form is shown again.
    :raise 503: when the rate-limit store (Redis) is down; nothing is saved.
    """
    form = ShareEnquiryForm()
    _prefill(form)
    if request.method == "POST":
        if form.is_spam:
            return _discard_spam()
        if form.validate_on_submit() and not _over_the_holding_limit(form):
            return _save(form, Kind.SHARES, payment_method=form.payment_method.data,
                         existing_holder=form.existing_holder.data,
                         member_number=form.member_number.data,
                         min_pence=current_app.config["SHARES_MIN_POUNDS"] * 100,
                         max_pence=current_app.config["SHARES_MAX_POUNDS"] * 100)
        return _form_page(Kind.SHARES, form, 422)
    return _form_page(Kind.SHARES, form)


def _over_the_holding_limit(form) -> bool:
    """A logged-in member asking for more shares than they may still hold (the Act's
    £100,000 less what they hold): said next to the amount before anything is paid (QA: a
    member with 150 shares could ask for, and pay online for, 100,000 more)."""
    if not current_user.is_authenticated or form.amount.pence is None:
        return False
    member = register.member_for_user(db.session, current_user)
    if member is None or member.ceased_on is not None:
        return False
    room, most = register.room_to_hold(member)
    asked = services.open_share_pence(db.session, current_user) // 100  # not yet allotted
    room = max(0, room - asked)
    if form.amount.pence <= room * 100:
        return False
    waiting = f" and have asked for {asked:,} more in enquiries still open" if asked else ""
    form.amount.errors = [*form.amount.errors, (
        f"You hold {member.shares_held:,} shares{waiting}, and one member may hold at most "
        f"{most:,}: " + (f"you can buy up to {room:,} more (£{room:,})." if room else
                         "you can't buy more now.")
    )]
    return True


@bp.route("/support", methods=["GET", "POST"])
@redraws_on_stale_token
@access("public")
def support():
    """Become a supporter: a one-off or monthly pledge (limits as for :func:`index`)."""
    form = SupportForm()
    _prefill(form)
    if request.method == "POST":
        if form.is_spam:
            return _discard_spam()
        if form.validate_on_submit():
            return _save(form, Kind.SUPPORTER, frequency=form.frequency.data,
                         min_pence=current_app.config["SUPPORT_MIN_POUNDS"] * 100,
                         max_pence=current_app.config["SUPPORT_MAX_POUNDS"] * 100)
        return _form_page(Kind.SUPPORTER, form, 422)
    return _form_page(Kind.SUPPORTER, form)


def _form_page(kind: Kind, form: EnquiryForm, code: int = 200, headers=None, problem=None):
    """The form page; ``problem`` is a (heading, message) shown above a refused form."""
    template = "shares/index.html" if kind == Kind.SHARES else "shares/support.html"
    # each drawing has its own submission key (and CSRF token): not for any cache to keep
    headers = {"Cache-Control": "no-store", **(headers or {})}
    return render_template(template, form=form, problem=problem), code, headers


def _discard_spam():
    """A filled honeypot: look exactly like success, save nothing."""
    log.info("share enquiry honeypot filled; discarded")
    session.pop(THANKS_KEY, None)
    return redirect(url_for("shares.thanks"))


def _refuse(kind: Kind, form: EnquiryForm, refused: ratelimit.Refused):
    """429: the form again, as typed, with what happened and when to try again."""
    item = parse(current_app.config["SHARES_RATE_LIMIT" if refused.scope == "address"
                                    else "SHARES_CLIENT_RATE_LIMIT"])
    window = f"{item.multiples} {item.GRANULARITY.name}" + ("s" if item.multiples > 1 else "")
    if item.multiples == 1:
        window = item.GRANULARITY.name
    message = REFUSED_MESSAGES[refused.scope].format(
        limit=f"{item.amount} enquir{'y' if item.amount == 1 else 'ies'}", window=window,
        email=current_app.config["SOCIETY_EMAIL"])
    return _form_page(kind, form, 429, {"Retry-After": str(refused.retry_after)},
                      problem=("Too many enquiries", message))


def _thanks(enquiry: Enquiry, *, email_sent: bool):
    session[THANKS_KEY] = {"reference": enquiry.reference, "kind": enquiry.kind,
                           "email_sent": email_sent, "amount_pence": enquiry.amount_pence,
                           "frequency": enquiry.frequency,
                           "existing_holder": enquiry.existing_holder}
    return redirect(url_for("shares.thanks"))


def _repeat(enquiry: Enquiry):
    """The thank-you page of the enquiry this form made already: nothing saved, sent or
    counted again."""
    log.info("%s: its form was sent again; nothing new saved", enquiry.reference)
    shown = session.get(THANKS_KEY) or {}
    if shown.get("reference") == enquiry.reference:
        return redirect(url_for("shares.thanks"))
    return _thanks(enquiry, email_sent=enquiry.acknowledged_at is not None)


def _save(form: EnquiryForm, kind: Kind, **fields):
    """Count the post (both limits, atomically), then save; a post not saved is uncounted.
    The same form sent again leads to the enquiry it made (``submission_key``)."""
    key = form.submission_key
    made = services.with_key(db.session, key)
    if made is not None:
        if services.is_repeat(made, kind, form.email.data, form.amount.pence):
            return _repeat(made)
        key = None  # changed before it was sent again: a new enquiry
    elif key is not None and request.form.get("submission"):  # drawn by a page of ours
        # Back after sending draws the form again under a new key (QA made a second pledge
        # that way): the enquiry this browser sent last, the same one and still new, within
        # the hour, is the one it already made (a post without a key of ours, a script's,
        # is taken as it comes)
        reference = (session.get(THANKS_KEY) or {}).get("reference")
        last = services.get_by_reference(db.session, reference) if reference else None
        if (last is not None and last.status_enum == Status.NEW
                and last.created_at > now_utc() - REPEAT_WITHIN
                and services.is_repeat(last, kind, form.email.data, form.amount.pence)
                and " ".join(last.name.split()) == " ".join((form.name.data or "").split())
                and all(getattr(last, name) == value for name, value in fields.items()
                        if name in ("payment_method", "frequency"))):
            return _repeat(last)
    try:
        outcome = ratelimit.acquire(normalise_email(form.email.data),
                                    request.remote_addr or "unknown")
    except ratelimit.LimitsUnavailable as err:
        log.error("share enquiry refused with 503: rate-limit store unreachable: %s", err)
        return _form_page(kind, form, 503,
                          {"Retry-After": str(ratelimit.UNAVAILABLE_RETRY_AFTER)},
                          problem=("Temporarily unavailable", UNAVAILABLE_MESSAGE))
    if isinstance(outcome, ratelimit.Refused):
        return _refuse(kind, form, outcome)

    contact = services.Contact(
        name=form.name.data, email=form.email.data, phone=form.phone.data or "",
        address=form.address.data, postcode=form.postcode.data or "", country=form.country.data,
    )
    user = current_user if current_user.is_authenticated else None
    try:
        enquiry = services.submit(
            db.session, kind, contact, form.amount.pence,
            newsletter_opt_in=form.newsletter_opt_in.data, user=user, submission_key=key,
            **fields,
        )
        row_id = mail.queue_acknowledgement(db.session, enquiry)
        db.session.commit()  # the enquiry and its email together; the email goes after
    except services.EnquiryError as err:
        db.session.rollback()
        ratelimit.release(outcome)
        form.form_errors.append(str(err))
        return _form_page(kind, form, 422)
    except IntegrityError:
        # the same form sent twice at once: the other request saved it
        db.session.rollback()
        ratelimit.release(outcome)
        made = services.with_key(db.session, key)
        if made is None or not services.is_repeat(made, kind, form.email.data,
                                                  form.amount.pence):
            raise
        return _repeat(made)
    except Exception:
        # The database refused or is down (the error handler answers 503): not counted.
        ratelimit.release(outcome)
        raise

    state = mail.record_acknowledgement(db.session, enquiry, row_id)
    db.session.commit()
    if enquiry.newsletter_opt_in:
        _request_newsletter(enquiry)
    return _thanks(enquiry, email_sent=state != "failed")


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
