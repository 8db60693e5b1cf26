"""Logging in and out, the member's account page and password change."""

from __future__ import annotations

import datetime as dt
import json
import logging

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from markupsafe import Markup

from coop import audit, hooks
from coop.access import access
from coop.accounts import services
from coop.accounts.forms import (
    ChangePasswordForm,
    DeleteAccountForm,
    EmailChangeForm,
    LoginForm,
    NameForm,
)
from coop.db import now_utc
from coop.extensions import db, limiter
from coop.formatting import iso_utc
from coop.forms import EmptyForm
from coop.mail import MailError, normalise_email, send_email
from coop.security import is_safe_next
from coop.urls import external_url

log = logging.getLogger(__name__)

bp = Blueprint("accounts", __name__)

#: the address a member asked to move to, shown on /account until they confirm
PENDING_EMAIL_KEY = "pending_email_change"


@bp.route("/login", methods=["GET", "POST"])
@access("public")
def login():
    """Log in by email and password. ``next`` is followed only to a path on this site.

    :raise 429: after too many failures for the account or the address.
    """
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                db.session,
                form.email.data,
                form.password.data,
                ip=request.remote_addr or "unknown",
                limit=current_app.config["LOGIN_MAX_FAILURES"],
                window=current_app.config["LOGIN_FAILURE_WINDOW"],
            )
        except services.Throttled as err:
            db.session.commit()
            response = render_template("errors/error.html", code=429,
                                       title="Too many attempts", message=str(err))
            retry = str(max(1, int(err.retry_after.total_seconds())))
            return response, 429, {"Retry-After": retry}
        except services.InvalidCredentials as err:
            db.session.commit()  # keep the failure record for throttling
            form.password.errors = [str(err)]
            return render_template("accounts/login.html", form=form), 200
        session.clear()  # no session fixation: nothing from before the login survives
        login_user(user, remember=form.remember.data)
        db.session.commit()
        flash(f"Welcome back, {user.display_name}.", "success")
        target = form.next.data
        return redirect(target if is_safe_next(target) else url_for("accounts.account"))
    return render_template("accounts/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@access("member")
def logout():
    """End the session everywhere: the session token is rotated, so copied cookies stop working."""
    current_user.rotate_session_token()
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have logged out.", "info")
    return redirect(url_for("main.index"))


@bp.route("/account")
@access("member")
def account():
    return _account_page()


def _account_page(status: int = 200, **forms):
    """/account with every form; a form that failed validation is passed in to keep its errors."""
    forms.setdefault("name_form", NameForm(formdata=None, name=current_user.name))
    forms.setdefault("email_form", EmailChangeForm(formdata=None))
    forms.setdefault("delete_form", DeleteAccountForm(formdata=None))
    sections = _render_sections(hooks.call("account_sections", db.session, current_user))
    pending = session.get(PENDING_EMAIL_KEY)
    return render_template("accounts/account.html", sections=sections, logout_form=EmptyForm(),
                           pending_email=pending, **forms), status


def _render_sections(sections: list[dict]) -> list[Markup]:
    """Each feature's section rendered with its own context, reachable both as ``section.x``
    and as plain ``x``."""
    # render_template escapes what it inserts, so its output is safe HTML
    return [Markup(render_template(s["template"], section=s, **s))  # noqa: S704  # nosec B704
            for s in sections]


@bp.route("/account/name", methods=["POST"])
@access("member")
def change_name():
    form = NameForm()
    if not form.validate_on_submit():
        return _account_page(422, name_form=form)
    if services.change_name(db.session, current_user, form.name.data):
        db.session.commit()
        flash("Your name has been saved.", "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("accounts.account"))


def _email_change_max_age() -> dt.timedelta:
    return dt.timedelta(hours=current_app.config.get("EMAIL_CHANGE_HOURS", 48))


@bp.route("/account/email", methods=["POST"])
@access("member")
@limiter.limit("5 per hour", methods=["POST"])
def change_email():
    """Send a link to the new address; nothing changes until it is opened and confirmed.

    The reply is the same whether or not another account has that address (that address is
    told instead), so the form can't be used to find out who has an account.
    """
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return _account_page(422, email_form=form)
    try:
        services.check_password(current_user, form.email_password.data)
    except services.InvalidCredentials:
        form.email_password.errors = ["That isn't your password."]
        return _account_page(422, email_form=form)
    new = normalise_email(form.new_email.data)
    if new == current_user.email:
        form.new_email.errors = ["That's already your email address."]
        return _account_page(422, email_form=form)
    if services.get_by_email(db.session, new) is not None:
        subject = "Someone tried to move an account to this address"
        text = render_template("accounts/email/email_in_use.txt")
    else:
        token = services.email_change_token(current_app.config["SECRET_KEY"], current_user, new)
        subject = "Confirm your new email address"
        text = render_template(
            "accounts/email/change_email.txt",
            url=external_url("accounts.confirm_email", token=token),
            hours=int(_email_change_max_age().total_seconds() // 3600),
        )
    try:
        send_email(new, subject, text)
    except MailError:
        flash("We couldn't send the email just now, so nothing has changed. Please try again "
              "in a few minutes.", "error")
        return redirect(url_for("accounts.account"))
    audit.record(db.session, "user.email_change_requested", "user", current_user.id,
                 by=current_user)
    db.session.commit()
    session[PENDING_EMAIL_KEY] = new
    flash(f"We've sent a link to {new}. Your email changes when you open it and confirm.",
          "success")
    return redirect(url_for("accounts.account"))


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
@access("public")
def confirm_email(token: str):
    """The link sent to the new address: GET shows a button, POST makes the change.

    Works without being logged in (the link may be opened on another device).
    """
    form = EmptyForm()
    max_age = _email_change_max_age()
    secret = current_app.config["SECRET_KEY"]
    try:
        if request.method == "POST":
            if not form.validate_on_submit():
                abort(400)
            user, old = services.apply_email_change(db.session, secret, token, max_age=max_age)
            hooks.call("email_changed", db.session, old, user.email)
            db.session.commit()
            _tell_old_address(old, user)
            session.pop(PENDING_EMAIL_KEY, None)
            flash(f"Your account's email is now {user.email}.", "success")
            if current_user.is_authenticated:
                return redirect(url_for("accounts.account"))
            return redirect(url_for("accounts.login"))
        _user, new = services.read_email_change_token(db.session, secret, token, max_age=max_age)
    except services.AccountError as err:
        db.session.rollback()
        code = 410 if isinstance(err, services.ExpiredEmailToken) else 404
        if isinstance(err, services.EmailTaken):
            code = 409
        return render_template("accounts/email_link_problem.html", message=str(err)), code
    return render_template("accounts/confirm_email.html", form=form, token=token, new_email=new)


def _tell_old_address(old: str, user) -> None:
    text = render_template("accounts/email/email_changed.txt", new=user.email)
    try:
        send_email(old, "Your account's email address was changed", text)
    except MailError:
        log.warning("could not tell the old address of user %s about the change", user.id)


@bp.route("/account/data", methods=["POST"])
@access("member")
def download_data():
    """Everything the site holds about the member, as a JSON file (POST: it is audited)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    data = {
        "exported_at": iso_utc(now_utc()),
        "site": current_app.config["SITE_NAME"],
        "account": services.export_account(current_user),
    }
    for key, value in hooks.call("data_export", db.session, current_user):
        data[key] = value
    audit.record(db.session, "user.data_exported", "user", current_user.id, by=current_user)
    db.session.commit()
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    stamp = now_utc().strftime("%Y-%m-%d")
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="my-data-{stamp}.json"',
        "Cache-Control": "no-store",
    })


@bp.route("/account/delete", methods=["POST"])
@access("member")
def delete_account():
    """Delete the account after the password is typed again; other features anonymise or
    erase what they hold first (``account_deletion`` hooks). Then the session ends."""
    form = DeleteAccountForm()
    if not form.validate_on_submit():
        return _account_page(422, delete_form=form)
    user = current_user._get_current_object()
    try:
        services.delete_account(
            db.session, user, form.delete_password.data,
            anonymise=lambda: hooks.call("account_deletion", db.session, user),
        )
    except services.InvalidCredentials:
        db.session.rollback()
        form.delete_password.errors = ["That isn't your password."]
        return _account_page(422, delete_form=form)
    except services.AccountError as err:
        db.session.rollback()
        form.form_errors.append(str(err))
        return _account_page(422, delete_form=form)
    db.session.commit()
    logout_user()
    session.clear()
    flash("Your account has been deleted. Thank you for reading.", "info")
    return redirect(url_for("main.index"))


@bp.route("/account/password", methods=["GET", "POST"])
@access("member")
def change_password():
    form = ChangePasswordForm(email=current_user.email)
    if form.validate_on_submit():
        try:
            services.change_password(
                db.session, current_user, form.current_password.data, form.new_password.data
            )
        except services.InvalidCredentials:
            form.current_password.errors = ["That isn't your current password."]
        except services.WeakPassword as err:
            form.new_password.errors = err.problems
        else:
            # The token changed, so log in again under the new one to stay logged in here.
            login_user(current_user._get_current_object())
            db.session.commit()
            flash("Your password has been changed. Other devices have been logged out.", "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/password.html", form=form)
