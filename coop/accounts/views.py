"""Logging in and out (with the second step), password links, the member's account page,
sessions and two-step verification."""

from __future__ import annotations

import datetime as dt
import json
import logging

from flask import (
    Blueprint,
    Response,
    abort,
    after_this_request,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import (
    confirm_login,
    current_user,
    login_fresh,
    login_url,
    login_user,
    logout_user,
)
from markupsafe import Markup
from sqlalchemy.exc import DBAPIError

from coop import audit, hooks, submissions, tasks
from coop.access import access
from coop.accounts import services, sessions, twofactor
from coop.accounts.forms import (
    ChangePasswordForm,
    CodeForm,
    DeleteAccountForm,
    EmailChangeForm,
    ForgotPasswordForm,
    LoginForm,
    NameForm,
    PasswordCheckForm,
    ReauthenticateForm,
    SetPasswordForm,
    TwoFactorSetupForm,
)
from coop.accounts.throttle import Throttled
from coop.db import is_write_conflict, now_utc
from coop.extensions import db, limiter
from coop.formatting import iso_utc
from coop.forms import EmptyForm, redraws_on_stale_token
from coop.mail import normalise_email
from coop.security import is_safe_next, referring_page

log = logging.getLogger(__name__)

bp = Blueprint("accounts", __name__)

#: the half-logged-in state between the password and the second-factor code
PENDING_KEY = "two_factor_pending"
#: how long the code may take after the password
PENDING_SECONDS = 300
#: a TOTP secret being set up, until the first code proves the app has it
SETUP_KEY = "two_factor_setup"


def _ip() -> str:
    return request.remote_addr or "unknown"


def _throttled(err: Throttled, template: str = "errors/error.html", **context):
    db.session.rollback()
    if template == "errors/error.html":
        context.update(code=429, title="Too many attempts", message=str(err))
    retry = str(max(1, int(err.retry_after.total_seconds())))
    return render_template(template, **context), 429, {"Retry-After": retry}


def _start_session(user, *, remember: bool, target: str = ""):
    """The full login: a new session row, a new Flask session, then where to go."""
    session.clear()  # no session fixation: nothing from before the login survives
    first = user.last_login_at is None
    sessions.start(db.session, user, device=sessions.describe_device(request.user_agent.string),
                   remember=remember)
    login_user(user, remember=remember, duration=sessions.remember_duration(user))
    cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    if not remember and cookie in request.cookies:
        # a remember-me cookie left by an earlier login on this browser (someone else's,
        # perhaps) would log them back in once this session ends (review)
        @after_this_request
        def forget_earlier_login(response):
            response.delete_cookie(cookie, path=current_app.config.get("REMEMBER_COOKIE_PATH",
                                                                         "/"),
                                   domain=current_app.config.get("REMEMBER_COOKIE_DOMAIN"),
                                   secure=current_app.config.get("REMEMBER_COOKIE_SECURE",
                                                                 False),
                                   httponly=True,
                                   samesite=current_app.config.get("REMEMBER_COOKIE_SAMESITE"))
            return response
    db.session.commit()
    flash(f"Welcome, {user.display_name}." if first else
          f"Welcome back, {user.display_name}.", "success")
    if current_app.config.get("REQUIRE_TWO_FACTOR") == "staff" and user.is_staff and (
            not user.two_factor_enabled):
        flash("Staff and admin accounts need two-step verification: turn it on to use the "
              "staff pages.", "info")
        return redirect(url_for("accounts.two_factor"))
    return redirect(target if is_safe_next(target) else url_for("accounts.account"))


def _renew_login(user) -> None:
    """Carry on logged in under a new session token (see :func:`sessions.renew`), as fresh as
    before: Flask-Login's cookies get the new token, so copies of the old ones are logged out."""
    renewed = sessions.renew(db.session, user,
                             device=sessions.describe_device(request.user_agent.string))
    if renewed is not None:
        left = (renewed.expires_at - now_utc()) if renewed.expires_at else None
        login_user(user, remember=renewed.remember and left is not None, fresh=login_fresh(),
                   duration=left)


@bp.route("/login", methods=["GET", "POST"])
@access("public")
def login():
    """Log in by email and password (then a code, with two-step verification on). ``next`` is
    followed only to a path on this site.

    :raise 429: when this address has to wait before trying this account again.
    """
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = services.authenticate(db.session, form.email.data, form.password.data,
                                         ip=_ip())
        except Throttled as err:
            form.password.errors = [str(err)]
            return _throttled(err, "accounts/login.html", form=form)
        except services.InvalidCredentials as err:
            db.session.commit()  # a notice to the owner after repeated failures
            form.password.errors = [str(err)]
            return render_template("accounts/login.html", form=form), 200
        if user.two_factor_enabled:
            db.session.commit()
            session.clear()
            session[PENDING_KEY] = {"user": user.id, "remember": bool(form.remember.data),
                                    "next": form.next.data or "", "at": now_utc().timestamp()}
            return redirect(url_for("accounts.login_code"))
        return _start_session(user, remember=bool(form.remember.data), target=form.next.data)
    return render_template("accounts/login.html", form=form)


def _pending_user():
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("user"), int):
        return None, None
    if now_utc().timestamp() - float(pending.get("at") or 0) > PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None, None
    from coop.accounts.models import User

    user = db.session.get(User, pending["user"])
    if user is None or not user.active or not user.two_factor_enabled:
        session.pop(PENDING_KEY, None)
        return None, None
    return user, pending


@bp.route("/login/code", methods=["GET", "POST"])
@access("public")
def login_code():
    """The second step: a code from the authenticator app or a recovery code. Only after the
    password, within five minutes; not logged in until the code is right."""
    user, pending = _pending_user()
    if user is None:
        return render_template("accounts/login_code_missing.html")
    form = CodeForm()
    if form.validate_on_submit():
        try:
            kind = twofactor.verify(db.session, user, form.code.data, ip=_ip())
        except Throttled as err:
            form.code.errors = [str(err)]
            return _throttled(err, "accounts/login_code.html", form=form)
        except twofactor.InvalidCode as err:
            db.session.rollback()
            form.code.errors = [str(err)]
            return render_template("accounts/login_code.html", form=form), 422
        response = _start_session(user, remember=pending["remember"], target=pending["next"])
        if kind == "recovery":
            left = twofactor.recovery_codes_left(db.session, user)
            flash(f"You used a recovery code; {left} left. Make new ones on your account page "
                  "if you're running out.", "info")
        return response
    return render_template("accounts/login_code.html", form=form), 422 if form.errors else 200


#: the prefix of the hidden copies of a form that was sent when the password was asked for
CARRY = "carry:"


def _carried(form) -> list[tuple[str, str]]:
    """What a form sent from a session gone stale held, to send again after the password:
    every field but its CSRF token (a new one is drawn) and any password (never echoed)."""
    return [(name, value) for name, value in form.items(multi=True)
            if name != "csrf_token" and "password" not in name.lower()]


def needs_refresh():
    """Flask-Login's ``needs_refresh`` (a staff page in a session restored from remember-me,
    or one its session protection marked not fresh: another network or browser version).
    A page is asked for again after the password; a form that was sent is kept: the confirm
    page carries what was typed, and afterwards offers to send it (review: typed notes and
    messages were lost)."""
    manager = current_app.login_manager
    if request.method in ("GET", "HEAD"):
        flash(manager.needs_refresh_message, manager.needs_refresh_message_category)
        return redirect(login_url(manager.refresh_view, next_url=request.url))
    form = ReauthenticateForm(formdata=None)
    form.next.data = referring_page() or url_for("accounts.account")
    return render_template("accounts/reauthenticate.html", form=form,
                           carried=_carried(request.form), carry_to=request.path)


@bp.route("/login/confirm", methods=["GET", "POST"])
@access("member")
def reauthenticate():
    """Confirm it's you (password, and code with two-step verification on) before a staff or
    admin page, when this session was restored from a remember-me cookie (or Flask-Login's
    session protection marked it not fresh: another network or browser version)."""
    form = ReauthenticateForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    carry_to = request.form.get("carry_to", "")
    carried = [(name[len(CARRY):], value) for name, value in request.form.items(multi=True)
               if name.startswith(CARRY)] if is_safe_next(carry_to) else []
    page = {"carried": carried, "carry_to": carry_to if carried else ""}
    user = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            services.recheck_password(db.session, user, form.password.data, ip=_ip())
            if user.two_factor_enabled:
                if not form.code.data:
                    raise twofactor.InvalidCode("Enter the code from your authenticator app.")
                twofactor.verify(db.session, user, form.code.data, ip=_ip())
        except Throttled as err:
            form.password.errors = [str(err)]
            return _throttled(err, "accounts/reauthenticate.html", form=form, **page)
        except services.InvalidCredentials:
            db.session.rollback()
            form.password.errors = ["That isn't your password."]
        except twofactor.InvalidCode as err:
            db.session.rollback()
            form.code.errors = [str(err)]
        else:
            confirm_login()
            db.session.commit()
            if carried:
                return render_template("accounts/send_again.html", carried=carried,
                                       carry_to=carry_to, back=form.next.data
                                       if is_safe_next(form.next.data) else None)
            flash("Thank you: you can carry on.", "success")
            target = form.next.data
            return redirect(target if is_safe_next(target) else url_for("accounts.account"))
        return render_template("accounts/reauthenticate.html", form=form, **page), 422
    status = 422 if form.errors else 200
    return render_template("accounts/reauthenticate.html", form=form, **page), status


@bp.route("/logout", methods=["POST"])
@access("public")
def logout():
    """End this session: its row is revoked, so copied cookies (and remember-me) stop working.

    Sent from a page whose session has ended already (logged out in another tab, or
    pressed twice), there is nothing to end: it says so rather than "This form has expired"
    (the token is checked here, not before, for that reason: exempted in ``init_app``)."""
    if not current_user.is_authenticated:
        flash("You're logged out.", "info")
        return redirect(url_for("main.index"))
    if not EmptyForm().validate_on_submit():
        abort(400)
    session_id = sessions.current_id(current_user)
    if session_id is not None:
        sessions.revoke(db.session, current_user, session_id)
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have logged out.", "info")
    return redirect(url_for("main.index"))


@bp.route("/account/sessions/others", methods=["POST"])
@access("member")
def logout_others():
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = current_user._get_current_object()
    count = sessions.revoke_all(db.session, user, keep_id=sessions.current_id(user))
    audit.record(db.session, "user.sessions_ended", "user", user.id, by=user, count=count)
    _renew_login(user)  # and a copy of this browser's cookies, wherever it is
    db.session.commit()
    flash("Every other device has been logged out." if count else
          "You weren't logged in anywhere else.", "success" if count else "info")
    return redirect(url_for("accounts.account") + "#sessions-heading")


@bp.route("/account/sessions/<int:session_id>/end", methods=["POST"])
@access("member")
def end_session(session_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    if sessions.revoke(db.session, current_user, session_id):
        db.session.commit()
        flash("That device has been logged out.", "success")
    return redirect(url_for("accounts.account") + "#sessions-heading")


# --- Forgotten passwords and invitations ---------------------------------------------------

def _reset_ip_limit() -> str:
    return current_app.config["PASSWORD_RESET_IP_RATE_LIMIT"]


@bp.route("/login/forgot", methods=["GET", "POST"])
@access("public")
@limiter.limit(_reset_ip_limit, methods=["POST"])
def forgot_password():
    """Ask for a reset link. The answer is the same whether or not the address has an account
    (and whether or not the per-address limit was reached)."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        tasks.ask_for_password_reset(form.email.data)  # the same quick answer for everyone
        return redirect(url_for("accounts.forgot_sent"))
    return render_template("accounts/forgot.html", form=form), 422 if form.errors else 200


@bp.route("/login/forgot/sent")
@access("public")
def forgot_sent():
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    return render_template("accounts/forgot_sent.html", minutes=minutes)


def _link_page(token: str, purpose: str):
    """The page a reset or invitation link opens: GET shows the form, POST sets the password."""
    try:
        user = services.read_password_token(db.session, token, purpose)
    except services.LinkProblem as err:
        db.session.rollback()
        code = 410 if isinstance(err, services.LinkExpired) else 404
        return render_template("accounts/link_problem.html", message=str(err),
                               purpose=purpose), code
    form = SetPasswordForm(email=user.email, name=user.name)
    if form.validate_on_submit():
        try:
            services.set_password_from_link(db.session, token, purpose, form.new_password.data)
        except services.WeakPassword as err:
            db.session.rollback()
            form.new_password.errors = err.problems
        else:
            db.session.commit()
            if current_user.is_authenticated:
                logout_user()
            session.clear()
            flash("Your password has been set. Log in with it now." if purpose == "invite" else
                  "Your password has been changed and every device logged out. Log in with "
                  "the new password.", "success")
            return redirect(url_for("accounts.login"))
    status = 422 if form.errors else 200
    return render_template("accounts/set_password.html", form=form, purpose=purpose,
                           email=user.email), status, {"Cache-Control": "no-store"}


@bp.route("/login/reset/<token>", methods=["GET", "POST"])
@redraws_on_stale_token  # sent twice: the second post finds the link used (QA: a 400 page)
@access("public")
def reset_password(token: str):
    return _link_page(token, "reset")


@bp.route("/welcome/<token>", methods=["GET", "POST"])
@redraws_on_stale_token  # sent twice: the second post finds the link used (QA: a 400 page)
@access("public")
def accept_invitation(token: str):
    return _link_page(token, "invite")


@bp.route("/account")
@access("member")
def account():
    return account_page()


def account_page(status: int = 200, **forms):
    """/account with every form; a form that failed validation is passed in to keep its errors."""
    forms.setdefault("name_form", NameForm(formdata=None, name=current_user.name))
    forms.setdefault("email_form", EmailChangeForm(formdata=None))
    forms.setdefault("delete_form", DeleteAccountForm(formdata=None))
    sections = _render_sections(hooks.call("account_sections", db.session, current_user))
    return render_template(
        "accounts/account.html", sections=sections, logout_form=EmptyForm(),
        pending_email=current_user.pending_email,
        user_sessions=sessions.live_sessions(db.session, current_user),
        this_session=sessions.current_id(current_user),
        recovery_left=(twofactor.recovery_codes_left(db.session, current_user)
                       if current_user.two_factor_enabled else 0),
        **forms,
    ), status


def _render_sections(sections: list[dict]) -> list[Markup]:
    """Each feature's section rendered with its own context, reachable both as ``section.x``
    and as plain ``x``."""
    # render_template escapes what it inserts, so its output is safe HTML
    return [Markup(render_template(s["template"], section=s, **s))  # noqa: S704  # nosec B704
            for s in sections]


@bp.route("/account/name", methods=["POST"])
@redraws_on_stale_token
@access("member")
def change_name():
    form = NameForm()
    if not form.validate_on_submit():
        return account_page(422, name_form=form)
    if services.change_name(db.session, current_user, form.name.data):
        db.session.commit()
        flash("Your name has been saved.", "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("accounts.account"))


def _email_change_max_age() -> dt.timedelta:
    return dt.timedelta(hours=current_app.config["EMAIL_CHANGE_HOURS"])


def _account_limit_key() -> str:
    """The account's own allowance (people behind one office or library address don't share
    it); the address's before the account is known."""
    user_id = getattr(current_user, "id", None)
    return f"account:{user_id}" if user_id is not None else get_remote_address()


#: the links to a new address an account may ask for in an hour, and the posts of the form
EMAIL_LINKS_PER_HOUR, EMAIL_POSTS_PER_HOUR = 5, 20


def _email_links_used_up(refused) -> Response:
    """The account page again, with the address typed and the reason next to the field."""
    form = EmailChangeForm()
    if refused.limit.amount == EMAIL_LINKS_PER_HOUR:
        message = (f"You've asked for {EMAIL_LINKS_PER_HOUR} links to a new address in the "
                   "last hour. Open one of those, or try again later.")
    else:
        message = (f"This form has been sent {EMAIL_POSTS_PER_HOUR} times in the last hour. "
                   "Please try again later.")
    form.new_email.errors = [message]
    return make_response(account_page(429, email_form=form))


@bp.route("/account/email", methods=["POST"])
@access("member")
@limiter.limit(f"{EMAIL_LINKS_PER_HOUR} per hour", methods=["POST"],
               key_func=_account_limit_key,
               deduct_when=lambda response: response.status_code == 302,
               on_breach=_email_links_used_up)
# every post counted, before it runs: posts sent at once all pass the check above before any
# is counted, and this caps them
@limiter.limit(f"{EMAIL_POSTS_PER_HOUR} per hour", methods=["POST"],
               key_func=_account_limit_key, on_breach=_email_links_used_up)
def change_email():
    """Send a link to the new address; nothing changes until it is opened and confirmed.

    The reply is the same whether or not another account has that address (that address is
    told instead), so the form can't be used to find out who has an account. Five links an
    hour per account: a typo, a wrong password or a refused address doesn't count (wrong
    passwords have the login throttle); and twenty posts of any kind.
    """
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return account_page(422, email_form=form)
    user = current_user._get_current_object()
    try:
        submissions.check(db.session, form)  # sent before: led where that went, untouched
        # then the password: its throttle writes on a connection of its own, which the
        # claim's write would hold up on SQLite
        services.recheck_password(db.session, user, form.email_password.data, ip=_ip())
        sent = submissions.claim(db.session, form)
        services.request_email_change(db.session, user, form.new_email.data)
        sent.leads_to(url_for("accounts.account"))
    except Throttled as err:
        form.email_password.errors = [str(err)]
        db.session.rollback()
        return account_page(429, email_form=form)
    except services.InvalidCredentials:
        db.session.rollback()
        form.email_password.errors = ["That isn't your password."]
        return account_page(422, email_form=form)
    except services.AccountError as err:
        db.session.rollback()
        form.new_email.errors = [str(err)]
        return account_page(422, email_form=form)
    new = normalise_email(form.new_email.data)
    db.session.commit()
    flash(f"We've sent a link to {new}. Your email changes when you open it and confirm.",
          "success")
    return redirect(url_for("accounts.account"))


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
@access("public")
def confirm_email(token: str):
    """The link sent to the new address: GET shows a button, POST makes the change (once).

    Works without being logged in (the link may be opened on another device).
    """
    form = EmptyForm()
    max_age = _email_change_max_age()
    secret = current_app.config["SECRET_KEY"]
    try:
        if request.method == "POST":
            if not form.validate_on_submit():
                abort(400)
            user = _apply_email_change(secret, token, max_age)
            if _someone_else(user):  # the link of another account, opened in this browser
                flash(f"The account's email is now {user.email}. You're still logged in as "
                      f"{current_user.email}: log out to use the other account.", "success")
            else:
                flash(f"Your account's email is now {user.email}.", "success")
            if current_user.is_authenticated:
                return redirect(url_for("accounts.account"))
            return redirect(url_for("accounts.login"))
        user, new = services.read_email_change_token(db.session, secret, token, max_age=max_age)
    except services.AccountError as err:
        db.session.rollback()
        code = 410 if isinstance(err, services.LinkExpired) else 404
        if isinstance(err, services.EmailTaken | Interrupted):
            code = 409
        return render_template("accounts/email_link_problem.html", message=str(err),
                               interrupted=isinstance(err, Interrupted)), code
    return render_template("accounts/confirm_email.html", form=form, token=token, new_email=new,
                           old_email=user.email, someone_else=_someone_else(user))


def _someone_else(user) -> bool:
    """Whether this browser is logged in to an account other than ``user``."""
    return current_user.is_authenticated and current_user.id != user.id


def _apply_email_change(secret: str, token: str, max_age: dt.timedelta):
    """Change the account's email and let the other features follow it, in one commit.

    A row for the new address that another request commits at this very moment (a place at
    an event, a newsletter sign-up, another account) fails the commit on a unique constraint,
    and on PostgreSQL two such writes can deadlock. Nothing is half-saved: it is rolled back
    and tried once more, when the checks see that row (and leave it alone, or refuse with
    EmailTaken). Should that fail too, the reader is asked to open the link again, which
    still works, rather than shown an error page."""
    for attempt in (1, 2):
        try:
            user, old = services.apply_email_change(db.session, secret, token, max_age=max_age)
            hooks.call("email_changed", db.session, old, user.email)
            db.session.commit()
            return user
        except DBAPIError as err:
            db.session.rollback()
            if not is_write_conflict(err):
                raise
            log.warning("email change met a concurrent write (attempt %d)", attempt)
    raise Interrupted("Something else changed at the same moment, so your email hasn't been "
                      "changed yet. Open the link in the email again to finish.")


class Interrupted(services.AccountError):
    """An email change rolled back twice by writes at the same moment; the link still works."""


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
        "sessions": [{"device": s.device, "logged_in_at": iso_utc(s.created_at),
                      "last_seen_at": iso_utc(s.last_seen_at)}
                     for s in sessions.live_sessions(db.session, current_user)],
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
        return account_page(422, delete_form=form)
    user = current_user._get_current_object()
    try:
        services.delete_account(
            db.session, user, form.delete_password.data, ip=_ip(),
            anonymise=lambda: hooks.call("account_deletion", db.session, user),
        )
    except Throttled as err:
        db.session.rollback()
        form.delete_password.errors = [str(err)]
        return account_page(429, delete_form=form)
    except services.InvalidCredentials:
        db.session.rollback()
        form.delete_password.errors = ["That isn't your password."]
        return account_page(422, delete_form=form)
    except services.AccountError as err:
        db.session.rollback()
        form.form_errors.append(str(err))
        return account_page(422, delete_form=form)
    db.session.commit()
    logout_user()
    session.clear()
    flash("Your account has been deleted. Thank you for reading.", "info")
    return redirect(url_for("main.index"))


@bp.route("/account/password", methods=["GET", "POST"])
@access("member")
def change_password():
    """Change the password (the current one is checked through the throttle); every other
    session of the account ends, this one carries on under a new token."""
    user = current_user._get_current_object()
    form = ChangePasswordForm(email=user.email, name=user.name)
    if form.validate_on_submit():
        try:
            services.change_password(db.session, user, form.current_password.data,
                                     form.new_password.data, ip=_ip(),
                                     keep_session_id=sessions.current_id(user))
        except Throttled as err:
            form.current_password.errors = [str(err)]
            return _throttled(err, "accounts/password.html", form=form)
        except services.InvalidCredentials:
            db.session.rollback()
            form.current_password.errors = ["That isn't your current password."]
        except services.WeakPassword as err:
            db.session.rollback()
            form.new_password.errors = err.problems
        else:
            _renew_login(user)
            db.session.commit()
            flash("Your password has been changed. Other devices have been logged out.", "success")
            return redirect(url_for("accounts.account"))
    status = 422 if form.errors else 200
    return render_template("accounts/password.html", form=form), status


# --- Two-step verification ------------------------------------------------------------------

@bp.route("/account/two-factor", methods=["GET", "POST"])
@access("member")
def two_factor():
    """Turn two-step verification on: a secret made here, shown as a QR code and as text, kept
    in the session until the first code from the app proves it was copied, with the password
    (checked through the throttle, like turning it off) to show it's the owner."""
    user = current_user._get_current_object()
    if user.two_factor_enabled:
        return _two_factor_on_page(user)
    secret = session.get(SETUP_KEY)
    if not isinstance(secret, str) or len(secret) != 32:
        secret = twofactor.new_secret()
        session[SETUP_KEY] = secret
    form = TwoFactorSetupForm()
    headers = {"Cache-Control": "no-store"}
    if form.validate_on_submit():
        try:
            services.recheck_password(db.session, user, form.password.data, ip=_ip())
            codes = twofactor.enable(db.session, user, secret, form.code.data)
        except Throttled as err:
            form.password.errors = [str(err)]
            headers["Retry-After"] = str(max(1, int(err.retry_after.total_seconds())))
        except services.InvalidCredentials:
            form.password.errors = ["That isn't your password."]
        except twofactor.InvalidCode as err:
            form.code.errors = [str(err)]
        else:
            db.session.commit()
            session.pop(SETUP_KEY, None)
            return _show_codes(codes, new=True)
        db.session.rollback()
    uri = twofactor.provisioning_uri(secret, user.email)
    status = 429 if "Retry-After" in headers else 422 if form.errors else 200
    return render_template(
        "accounts/two_factor.html", enabled=False, form=form, qr=twofactor.qr_data_uri(uri),
        secret=twofactor.format_secret(secret),
    ), status, headers


def _two_factor_on_page(user, status: int = 200, **forms):
    """The page when it is on; a form that failed is passed in to keep its errors."""
    forms.setdefault("disable_form", PasswordCheckForm(formdata=None, prefix="off"))
    forms.setdefault("codes_form", PasswordCheckForm(formdata=None, prefix="codes"))
    return render_template("accounts/two_factor.html", enabled=True,
                           recovery_left=twofactor.recovery_codes_left(db.session, user),
                           **forms), status


def _show_codes(codes: list[str], *, new: bool):
    html = render_template("accounts/recovery_codes.html", codes=codes, new=new)
    return html, 200, {"Cache-Control": "no-store"}


def _password_confirmed(form: PasswordCheckForm, form_name: str, user):
    """None when the form is filled in and the password is right (checked through the
    throttle); else the response to send."""
    if not form.validate_on_submit():
        return _two_factor_on_page(user, 422, **{form_name: form})
    try:
        services.recheck_password(db.session, user, form.password.data, ip=_ip())
    except Throttled as err:
        db.session.rollback()
        form.password.errors = [str(err)]
        return _two_factor_on_page(user, 429, **{form_name: form})
    except services.InvalidCredentials:
        db.session.rollback()
        form.password.errors = ["That isn't your password."]
        return _two_factor_on_page(user, 422, **{form_name: form})
    return None


@bp.route("/account/two-factor/off", methods=["POST"])
@access("member")
def two_factor_off():
    user = current_user._get_current_object()
    if not user.two_factor_enabled:
        return redirect(url_for("accounts.two_factor"))
    problem = _password_confirmed(PasswordCheckForm(prefix="off"), "disable_form", user)
    if problem is not None:
        return problem
    twofactor.disable(db.session, user, by=user)
    db.session.commit()
    flash("Two-step verification is off. Logging in now needs only your password.", "info")
    return redirect(url_for("accounts.account"))


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@access("member")
def new_recovery_codes():
    user = current_user._get_current_object()
    if not user.two_factor_enabled:
        return redirect(url_for("accounts.two_factor"))
    problem = _password_confirmed(PasswordCheckForm(prefix="codes"), "codes_form", user)
    if problem is not None:
        return problem
    codes = twofactor.new_recovery_codes(db.session, user)
    audit.record(db.session, "user.recovery_codes_renewed", "user", user.id, by=user)
    db.session.commit()
    return _show_codes(codes, new=False)
