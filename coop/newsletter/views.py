"""Public newsletter pages: sign up, confirm, manage topics, unsubscribe (also one-click)."""

from __future__ import annotations

import datetime as dt
import logging

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from coop.access import access
from coop.db import now_utc
from coop.extensions import db, limiter
from coop.formatting import london_clock, london_datetime
from coop.forms import EmptyForm, redraws_on_stale_token
from coop.mail import normalise_email
from coop.newsletter import services
from coop.newsletter.forms import EMAIL_MAX, AccountTopicsForm, SignupForm, TopicsForm
from coop.newsletter.models import Status
from coop.timeutil import to_london

log = logging.getLogger(__name__)

bp = Blueprint("newsletter", __name__)

#: where the sign-up POST came from, for the consent record
SOURCES = {"footer": "footer", "page": "newsletter-page"}


def _address_key() -> str:
    """Rate-limit key: the normalised address typed, so one inbox can't be flooded."""
    return "newsletter:" + normalise_email(request.form.get("email", ""))[:254]


def _address_limit() -> str:
    return current_app.config["NEWSLETTER_RATE_LIMIT"]


def _ip_limit() -> str:
    return current_app.config["NEWSLETTER_IP_RATE_LIMIT"]


@bp.route("/newsletter", methods=["GET", "POST"])
@redraws_on_stale_token
@access("public")
@limiter.limit(_address_limit, key_func=_address_key, methods=["POST"])
@limiter.limit(_ip_limit, methods=["POST"])
def signup():
    """The sign-up page, and where its form posts (also the form /newsletter/start draws
    with the footer's address)."""
    form = SignupForm()
    if form.validate_on_submit():
        if form.is_spam:
            log.info("newsletter honeypot filled; discarded")
            return redirect(url_for("newsletter.check_email"))
        source = SOURCES.get(request.form.get("source", ""), "newsletter-page")
        try:
            services.request_subscription(
                db.session, form.email.data, name=form.name.data or None,
                topics=form.topics.data, source=source,
            )
        except services.NewsletterError as err:
            db.session.rollback()
            form.email.errors = [str(err)]
            return render_template("newsletter/signup.html", form=form, source="page"), 422
        db.session.commit()
        return redirect(url_for("newsletter.check_email"))
    if request.method == "POST":
        return render_template("newsletter/signup.html", form=form, source="page"), 422
    # The footer's address comes by POST to /newsletter/start, never in the query string
    # (audit: ``?email=`` was still read, the address in the address bar and the logs).
    if current_user.is_authenticated:
        # a member signing up gives their account's address, unless they type another (QA)
        form.email.data = current_user.email
        form.name.data = current_user.name or None
    return render_template("newsletter/signup.html", form=form, source="page")


@bp.route("/newsletter/start", methods=["POST"])
@access("public")
def start():
    """Where the footer's short form posts (it carries no CSRF token: every reader gets the
    same bytes). It saves nothing: it draws the sign-up page with the address filled in, for
    the real form there, token and consent box and all. A POST, so the address goes into no
    address bar, history or server log (QA: ``/newsletter?email=…`` did)."""
    form = SignupForm(formdata=None)
    form.email.data = (request.form.get("email") or "").strip()[:EMAIL_MAX] or None
    response = Response(render_template("newsletter/signup.html", form=form, source="footer"))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/newsletter/check-your-email")
@access("public")
def check_email():
    """The same page whether the address was new, pending, confirmed or a bot's."""
    return render_template("newsletter/check_email.html")


@bp.route("/newsletter/confirm/<token>", methods=["GET", "POST"])
@access("public")
def confirm(token: str):
    """GET shows a Confirm button and changes nothing (mail scanners follow links); POST confirms.

    A wrong, used or expired token gets a page saying so, with status 404 or 410.
    """
    form = EmptyForm()
    try:
        if request.method == "POST":
            if not form.validate_on_submit():
                abort(400)
            subscriber = services.confirm(db.session, token)
            db.session.commit()
            manage = url_for("newsletter.manage", token=services.unsubscribe_token(subscriber))
            response = Response(render_template("newsletter/confirmed.html", manage=manage))
            response.headers["Cache-Control"] = "no-store"  # the page carries their link
            response.headers["Referrer-Policy"] = "no-referrer"
            return response
        services.check_token(db.session, token)
    except services.ExpiredToken as err:
        db.session.rollback()
        return render_template("newsletter/bad_link.html", message=str(err), expired=True), 410
    except services.InvalidToken as err:
        db.session.rollback()
        return render_template("newsletter/bad_link.html", message=str(err), expired=False), 404
    return render_template("newsletter/confirm.html", form=form, token=token)


def _subscriber_or_404(token: str):
    subscriber = services.from_unsubscribe_token(db.session, token)
    if subscriber is None:
        abort(404, "This link isn't valid. It may have been copied incompletely, or the "
                   "subscription it was for no longer exists.")
    return subscriber


@bp.route("/newsletter/unsubscribe/<token>", methods=["GET", "POST"])
@access("public")
def unsubscribe(token: str):
    """The link in every email: a page with a button (GET changes nothing), works without login."""
    subscriber = _subscriber_or_404(token)
    form = EmptyForm()
    if form.validate_on_submit():
        services.unsubscribe(db.session, subscriber, source="email-link")
        db.session.commit()
        return render_template("newsletter/unsubscribed.html")
    if subscriber.status == Status.UNSUBSCRIBED:
        return render_template("newsletter/unsubscribed.html")
    return render_template("newsletter/unsubscribe.html", form=form, token=token)


@bp.route("/newsletter/unsubscribe/<token>/one-click", methods=["POST"])
@access("public")
def one_click(token: str):
    """RFC 8058 one-click unsubscribe, POSTed by mail programs without cookies or CSRF token.

    Safe without CSRF: the token names exactly one subscriber, and the only effect is to stop
    mail to them; repeating it changes nothing.
    """
    subscriber = services.from_unsubscribe_token(db.session, token)
    if subscriber is None:
        abort(404)
    services.unsubscribe(db.session, subscriber, source="one-click")
    db.session.commit()
    return "You have been unsubscribed.\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.route("/newsletter/manage/<token>", methods=["GET", "POST"])
@access("public")
def manage(token: str):
    """Change topics from the link in an email, without logging in."""
    subscriber = _subscriber_or_404(token)
    if subscriber.status == Status.UNSUBSCRIBED:
        return render_template("newsletter/unsubscribed.html")
    form = TopicsForm(data={"topics": subscriber.topic_keys} if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            changed = services.change_topics(db.session, subscriber, form.topics.data,
                                             source="manage-link")
        except services.NewsletterError as err:
            db.session.rollback()
            form.topics.errors = [str(err)]
        else:
            db.session.commit()
            flash("Your topics have been saved." if changed else "Nothing changed.", "success")
            return redirect(url_for("newsletter.manage", token=token))
    status = 422 if request.method == "POST" else 200
    return render_template("newsletter/manage.html", form=form, token=token,
                           subscriber=subscriber), status


@bp.route("/account/newsletter", methods=["POST"])
@access("member")
def account_topics():
    """The newsletter box on /account: subscribe (double opt-in), change topics or leave."""
    form = AccountTopicsForm()
    subscriber = services.get_by_email(db.session, current_user.email)
    if request.form.get("action") == "unsubscribe":
        if EmptyForm().validate_on_submit() and subscriber is not None:
            services.unsubscribe(db.session, subscriber, source="account")
            db.session.commit()
            flash("You've been unsubscribed from the newsletter.", "success")
        return redirect(url_for("accounts.account") + "#newsletter-heading")
    if not form.validate_on_submit():
        # /account drawn again with this form: its message beside the boxes, as ticked
        from coop.accounts.views import account_page

        g.newsletter_form = form
        return account_page(422)
    if subscriber is not None and subscriber.status == Status.CONFIRMED:
        changed = services.change_topics(db.session, subscriber, form.topics.data,
                                         source="account")
        db.session.commit()
        flash("Your newsletter topics have been saved." if changed else "Nothing changed.",
              "success")
    else:
        now = now_utc()
        subscriber = services.request_subscription(
            db.session, current_user.email, name=current_user.name or None,
            topics=form.topics.data, source="account", now=now,
        )
        db.session.commit()
        minutes = current_app.config["NEWSLETTER_RESEND_MINUTES"]
        if subscriber.confirm_sent_at == now:
            flash(f"We've sent a link to {current_user.email}: open it to confirm your "
                  "subscription.", "success")
        elif subscriber.confirm_token_hash:  # their own address: this tells nobody anything
            flash(f"Your topics are saved. We sent you a confirmation link less than {minutes} "
                  "minutes ago, so no new one was sent: opening that link subscribes you to "
                  "the topics ticked now.", "success")
        else:  # the link sent at once after they came back was used up too (unsubscribed)
            again = subscriber.confirm_sent_at + dt.timedelta(minutes=minutes)
            when = (london_clock(again) if to_london(again).date() == to_london(now).date()
                    else london_datetime(again))
            flash(f"Your topics are saved, but we send at most one link every {minutes} "
                  f"minutes: ask again after {when} and a new one will come.", "error")
    return redirect(url_for("accounts.account") + "#newsletter-heading")
