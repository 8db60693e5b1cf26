"""Logging in and out, the member's account page and password change."""

from __future__ import annotations

from flask import (
    Blueprint,
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

from coop import hooks
from coop.access import access
from coop.accounts import services
from coop.accounts.forms import ChangePasswordForm, EmptyForm, LoginForm
from coop.extensions import db
from coop.security import is_safe_next

bp = Blueprint("accounts", __name__)


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
    sections = _render_sections(hooks.call("account_sections", db.session, current_user))
    return render_template("accounts/account.html", sections=sections, logout_form=EmptyForm())


def _render_sections(sections: list[dict]) -> list[Markup]:
    """Each feature's section rendered with its own context, reachable both as ``section.x``
    and as plain ``x``."""
    # render_template escapes what it inserts, so its output is safe HTML
    return [Markup(render_template(s["template"], section=s, **s))  # noqa: S704
            for s in sections]


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
