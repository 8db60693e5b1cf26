"""Response headers and the rules for where a redirect may go."""

from __future__ import annotations

import hashlib
import re
import secrets
from functools import wraps
from urllib.parse import unquote, urlsplit

from flask import Flask, abort, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from coop.extensions import USER_LOADED


def token_digest(token: str) -> str:
    """What the database keeps of a random token (an API token, a session's, a confirmation
    link's): its SHA-256. Right for these, which carry at least 128 random bits, so a slow
    hash would add nothing; never for passwords (``coop.accounts.passwords``)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_safe_next(target: str | None) -> bool:
    """True only for a path on this site: ``/fund`` yes; ``//evil``, ``https://x``, ``/\\x`` no.

    Percent-decoding is applied repeatedly so ``%2F%2Fevil`` and ``/%5Cevil`` are caught too.
    """
    if not target:
        return False
    value = target
    for _ in range(3):
        decoded = unquote(value)
        if decoded == value:
            break
        value = decoded
    if re.search(r"[\x00-\x1f\x7f]", value):
        return False
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return False
    parts = urlsplit(value)
    return parts.scheme == "" and parts.netloc == ""


def referring_page() -> str | None:
    """The page of this site the request came from (``Referer``: path and query), or None:
    for a form sent from a page whose query string (a filter, a page number) the form
    doesn't carry."""
    parts = urlsplit(request.referrer or "")
    page = parts.path + (f"?{parts.query}" if parts.query else "")
    return page if parts.netloc == request.host and is_safe_next(page) else None


def same_origin_request() -> bool:
    """False for a request a browser says came from another site (``Sec-Fetch-Site`` or
    ``Origin``); True when it came from this site, or from a client that sends neither."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def from_this_site() -> bool:
    """True only for a request the browser says came from this site: ``Sec-Fetch-Site:
    same-origin``, or else an ``Origin`` or ``Referer`` on this scheme and host. Unlike
    :func:`same_origin_request`, a client that sends none of them is not taken at its word."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    for header in ("Origin", "Referer"):
        value = request.headers.get(header)
        if value is not None:
            parts = urlsplit(value)
            return (parts.scheme, parts.netloc) == (request.scheme, request.host)
    return False


def frameable(view):
    """Mark a view as one that other sites may put in an iframe (see ``FUND_WIDGET_ORIGINS``)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        g.frameable = True
        return view(*args, **kwargs)

    return wrapped


def sessionless(view):
    """Mark a view whose answer is the same whoever asks (the fund's embeds and JSON): the
    session is neither saved nor varied on, so there is no ``Set-Cookie`` and no
    ``Vary: Cookie``, and caches in front may share it. The view must not use the session
    (nor ``current_user``)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        g.sessionless = True
        return view(*args, **kwargs)

    return wrapped


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except that a :func:`sessionless` view's response is
    left alone (Flask-Login's after-request hook touches the session on every request, which
    would otherwise add ``Vary: Cookie`` to everything)."""

    def save_session(self, app, session, response) -> None:
        if g.get("sessionless"):
            return
        super().save_session(app, session, response)


def public_cors(view):
    """Let pages on other sites ``fetch()`` this public, read-only view: any origin, or only
    those in ``FUND_WIDGET_ORIGINS`` when it is set. Never for a view that takes credentials
    (the token-authenticated POST). Use under ``@cached(headers=("Origin",))``."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except HTTPException as error:
            # its JSON error too (an unknown campaign's 404): without the header a fetch()
            # from another site sees only "network error", never why (QA)
            response = current_app.make_response(current_app.handle_user_exception(error))
        allowed = _origins(current_app)
        if allowed is None:
            response.headers["Access-Control-Allow-Origin"] = "*"
        else:
            origin = request.headers.get("Origin")
            if origin in allowed:
                response.headers["Access-Control-Allow-Origin"] = origin
            response.vary.add("Origin")
        response.headers["Access-Control-Expose-Headers"] = "ETag"
        return response

    return wrapped


def _origins(app: Flask) -> list[str] | None:
    """``FUND_WIDGET_ORIGINS`` as a list, or None for any site."""
    origins = app.config.get("FUND_WIDGET_ORIGINS")
    if not origins:
        return None
    return origins.split() if isinstance(origins, str) else list(origins)


def body_limit(config_key: str, default: int):
    """A smaller body limit for this view (``MAX_CONTENT_LENGTH`` is the site's): a bigger
    declared body is a 413 before anything reads it, and werkzeug cuts off one sent without a
    length."""

    def decorator(view):
        view.body_limit = (config_key, default)
        return view

    return decorator


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _frame_ancestors(app: Flask) -> str:
    if not g.get("frameable"):
        return "'none'"
    origins = _origins(app)
    return "*" if origins is None else " ".join(origins)


def refuse_oversized_body(app: Flask):
    """413 for any request whose declared body is over ``MAX_CONTENT_LENGTH`` (or the view's
    :func:`body_limit`), before the view runs: the same answer on every route, whatever the
    view would check first (a bearer token, a URL lookup). Bodies sent without a length are
    still cut off by werkzeug when read. Flask-WTF's CSRF check and the limiter run before
    it (their extensions register first); a body they read is held to ``MAX_CONTENT_LENGTH``
    by werkzeug all the same."""
    limit = app.config.get("MAX_CONTENT_LENGTH")
    own = getattr(app.view_functions.get(request.endpoint), "body_limit", None)
    if own is not None:
        limit = int(app.config.get(own[0], own[1]))
        request.max_content_length = limit
    if limit is not None and request.content_length is not None and (
            request.content_length > limit):
        abort(413)


NUL_MESSAGE = ("What was sent contains a NUL character (code 0), which can't be stored. "
               "Go back, retype the text and send it again.")


def refuse_nul_characters() -> None:
    """400 for a NUL character anywhere in the path, query, form or JSON body.

    Nobody types one, PostgreSQL text cannot hold one (it would be a 500 deep in a view), and
    it is a classic way to split strings in other tools: refused once, here, for every route.
    """
    if "\x00" in request.path or any("\x00" in k or any("\x00" in v for v in vs)
                                     for k, vs in request.args.lists()):
        abort(400, description=NUL_MESSAGE)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields = list(request.form.lists()) + [(k, [f.filename or ""])
                                              for k, f in request.files.items()]
        if any("\x00" in k or any("\x00" in v for v in vs) for k, vs in fields):
            abort(400, description=NUL_MESSAGE)
    elif request.content_length or request.headers.get("Transfer-Encoding"):
        body = request.get_data(cache=True)
        if b"\x00" in body or (request.is_json and b"\\u0000" in body):
            abort(400, description=NUL_MESSAGE)


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.before_request(lambda: refuse_oversized_body(app))
    app.before_request(refuse_nul_characters)

    @app.after_request
    def set_security_headers(response):
        script_src = "'self'"
        if "csp_nonce" in g:
            script_src += f" 'nonce-{g.csp_nonce}'"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; "
            f"script-src {script_src}; "
            "style-src 'self'; "
            "img-src 'self' data:; "
            "font-src 'self'; "
            "connect-src 'self'; "
            "object-src 'none'; "
            "base-uri 'none'; "
            "form-action 'self'; "
            f"frame-ancestors {_frame_ancestors(app)}"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if not g.get("frameable"):
            response.headers["X-Frame-Options"] = "DENY"
        if app.config["COOP_ENV"] == "production":
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        # Pages for a logged-in person must not be kept by browsers or proxies.
        if (not g.get("sessionless") and g.get(USER_LOADED)
                and current_user.is_authenticated):
            response.headers["Cache-Control"] = "no-store"
            response.vary.add("Cookie")
        return response
