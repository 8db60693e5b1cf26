"""Error pages in the site's layout, JSON errors for the API, and 503 when the database is down."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, redirect, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

from coop.extensions import db

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Bad request", "The request could not be understood. If you sent a form, go back, "
                         "reload the page and try again."),
    401: ("Not authorised", "This needs credentials that were missing or not accepted."),
    403: ("Not allowed", "Your account doesn't have access to this page."),
    404: ("Page not found", "There's nothing at this address. It may have moved, or the link "
                            "may be mistyped."),
    405: ("Method not allowed", "This page can't be used that way."),
    410: ("Link expired", "This link has expired."),
    413: ("Too large", "What you sent is larger than this site accepts."),
    422: ("Couldn't process that", "Some of what was sent wasn't valid."),
    429: ("Too many requests", "You've made too many requests in a short time. "
                               "Please wait a little and try again."),
    500: ("Something went wrong", "An error on our side stopped this page. It has been logged; "
                                  "please try again in a moment."),
    503: ("Temporarily unavailable", "The site can't reach its database just now, so nothing "
                                     "was saved. Please try again in a minute."),
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json"
    )


def json_error(status: int, error: str, message: str, errors: list | None = None, **headers):
    """A JSON error answer: ``error`` and ``message``, and ``errors`` (field, message)."""
    body = {"error": error, "message": message}
    if errors is not None:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def error_response(code: int, message: str | None = None, *, title: str | None = None):
    default_title, default_message = MESSAGES.get(code, ("Error", ""))
    if wants_json():
        return jsonify(error=title or default_title, message=message or default_message), code
    g.error_page = True  # the layout leaves out what only belongs on content pages
    return render_template(
        "errors/error.html",
        code=code,
        title=title or default_title,
        message=message or default_message,
    ), code


def _forget_user_if_unloaded() -> None:
    """Error pages must not query the database again to find out who is logged in: someone
    not loaded yet is nobody here (``coop.accounts``' user loader reads the flag)."""
    from coop.extensions import LOAD_NO_USER

    setattr(g, LOAD_NO_USER, True)


def _password_first():
    """The password page, carrying what was typed, for a form refused for its CSRF token that
    was sent from this site to a page asking for a fresh login by someone whose login isn't
    fresh; None for anything else.

    A session restored from a remember-me cookie is a new session, and so its forms' tokens
    are always stale: Flask-WTF's check answered 400 before ``access`` could ask for the
    password, and the typed note, payment or allotment was lost (QA: every staff form but the
    few marked ``redraws_on_stale_token``). Nothing is saved here: the form is sent again, with
    a new token, only when its author has typed their password and pressed "Send it"
    (:func:`coop.accounts.views.needs_refresh`). A post from another site still gets the 400.
    """
    from flask import current_app
    from flask_login import current_user, login_fresh

    from coop.security import from_this_site

    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    level = getattr(view, "access_level", "public")
    if (request.method != "POST" or not getattr(view, "access_fresh", False)
            or level in ("public", "token") or not from_this_site()
            or not current_user.is_authenticated or not current_user.has_role(level)
            or login_fresh()):
        return None
    return current_app.login_manager.needs_refresh()


def _retry_after_only_when_refused(response):
    """``Retry-After`` means "refused, come back later": only 429 and 503 carry it
    (Flask-Limiter adds it to every response of a limited view, a form's 302 included)."""
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask) -> None:
    # First in the list, so it runs last: Flask calls after_request functions in reverse
    # order, and Flask-Limiter's header injection was registered before this.
    app.after_request_funcs.setdefault(None, []).insert(0, _retry_after_only_when_refused)

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        if err.code is None or err.code < 400:
            return err
        if isinstance(err, SecurityError):
            # a Host outside TRUSTED_HOSTS: no URL can be built for it, so no page template
            return Response("Bad request: this site doesn't answer to that host name.\n",
                            400, mimetype="text/plain")
        if err.code == 503:
            _forget_user_if_unloaded()
        if err.code == 429 and err.response is not None:
            # a limit that brings its own page: the form again, the reason next to its field
            # (Flask-Limiter's on_breach, e.g. coop.accounts.views.change_email)
            return err.response
        if isinstance(err, CSRFError) and (page := _password_first()) is not None:
            return page
        message = None
        if isinstance(err, CSRFError):
            message = ("This form has expired or didn't come from this site. Go back, reload "
                       "the page and send it again.")
        elif err.code in (400, 403, 404, 410, 422) and _custom(err):
            message = err.description
        elif err.code == 429 and (wait := _seconds_to_wait(err)):
            minutes = max(1, -(-int(wait) // 60))  # rounded up
            message = ("You've made too many requests in a short time. Please try again in "
                       + ("a minute." if minutes == 1 else f"about {minutes} minutes."))
        if err.code == 405 and request.method in ("GET", "HEAD"):
            page = _form_page_for(request.path)
            if page is not None:
                return redirect(page, 303)
        body, code = error_response(err.code, message)
        if err.code == 405:
            return body, code, {"Allow": ", ".join(err.valid_methods or [])}
        if err.code == 429 and getattr(err, "retry_after", None):
            return body, code, {"Retry-After": str(err.retry_after)}
        return body, code

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_unavailable(err):
        log.warning("database unavailable: %s", err.__class__.__name__)
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            db.session.remove()
        g.db_unavailable = True
        _forget_user_if_unloaded()
        body, code = error_response(503)
        return body, code, {"Retry-After": "30"}

    @app.errorhandler(InternalServerError)
    def internal_error(err):
        original = getattr(err, "original_exception", None)
        if isinstance(original, (OperationalError, InterfaceError)):
            return database_unavailable(original)
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001
            db.session.remove()
        _forget_user_if_unloaded()
        return error_response(500)


def _form_page_for(path: str) -> str | None:
    """The page a form-only address belongs to: its nearest ancestor a GET can open.

    After a refused post the address bar shows where the form was sent
    (``/events/<slug>/register#errors``, ``/account/email#errors``); opened again from a
    bookmark or history it was a dead end ("405: this page can't be used that way"). A GET
    there is led to the form's page instead (and does nothing else). Not for the JSON API,
    whose clients want the 405."""
    from flask import current_app
    from werkzeug.exceptions import HTTPException as Routing

    if path.startswith("/api/") or "//" in path or not path.isprintable():
        return None  # never a "//host" address, nor a header Werkzeug would refuse
    adapter = current_app.url_map.bind("localhost")
    parts = path.rstrip("/").split("/")
    while len(parts) > 1:
        parts.pop()
        candidate = "/".join(parts) or "/"
        try:
            adapter.match(candidate, method="GET")
        except Routing:
            continue
        return candidate
    return None


def _seconds_to_wait(err: HTTPException) -> float | None:
    """How long a refused client waits: our own throttles say (``retry_after``); for a
    Flask-Limiter limit, the reset time of the limit this request broke."""
    if getattr(err, "retry_after", None):
        return float(err.retry_after)
    import time

    from coop.extensions import limiter

    try:  # the limit's store answers this: should it fail now, the page says "a little"
        current = limiter.current_limit
        if current is None or not getattr(current, "breached", False):
            return None
        return max(1.0, current.reset_at - time.time())
    except Exception:  # noqa: BLE001 - a wording nicety must never turn a 429 into a 500
        log.warning("rate limit: could not read when it resets", exc_info=True)
        return None


def _custom(err: HTTPException) -> bool:
    """True when the description was written by our code, not werkzeug's default."""
    return type(err).description != err.description
