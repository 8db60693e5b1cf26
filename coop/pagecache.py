"""A whole-page cache for anonymous readers, in front of Flask (a WSGI middleware).

The busiest public pages (``/``, ``/events``, ``/fund``) are the same for every reader who isn't
logged in, except for one thing: the CSRF token of the newsletter form in the footer, which
belongs to the reader's session. So the first anonymous request for a URL goes through Flask
as usual (access check, view, security headers) and the complete response is kept with the
token cut out; later anonymous requests for the same URL are answered from it, with the
reader's own token put back:

- a reader with no cookie gets a new token and the session cookie that holds it, exactly what
  Flask-WTF would have made (``generate_csrf``: a random value in the session, signed into
  the form with the ``wtf-csrf-token`` salt);
- a reader whose only cookie is a session holding nothing but that token keeps it.

Anyone else (logged in, a notice dismissed, any other cookie or an ``Authorization`` header,
any method but ``GET``) goes through Flask. The home page is kept too, but served from the
cache only while the database answers a ``SELECT 1``: with the database down it must be the
site's 503, not a page whose forms can't work. A view opts in with ``@anonymous_cache``; the
response is kept only if it is a 200 for an anonymous reader, set no cookie but the session
one, and used no CSP nonce. Kept pages live ``PAGE_CACHE_SECONDS`` (default 5; 0 turns the
cache off) and are all dropped when this process commits a change to the database; other
processes catch up within the time-to-live.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.http import dump_cookie, parse_cookie

from coop.wsgi import drain

#: set on a response the middleware may keep (the CSRF token to cut out); never leaves the process
MARKER = "X-Coop-Page-Keep"
#: set with it when a kept copy may be served only while the database answers
PING_MARKER = "X-Coop-Page-Ping"
MAX_KEPT = 256
_FLAG = "coop.pagecache.flushed"


class _Generation:
    """Bumped after every commit that wrote something, in this process."""

    value = 0


@event.listens_for(Session, "after_flush")
def _note_write(session, _flush_context):
    session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session):
    if session.info.pop(_FLAG, False):
        _Generation.value += 1


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session):
    session.info.pop(_FLAG, None)


def anonymous_cache(view=None, *, ping_database: bool = False):
    """Let the page cache keep this view's answer to anonymous readers (see the module).

    With ``ping_database=True`` a kept copy is served only after a ``SELECT 1`` succeeds, so
    with the database down the page is the site's 503 at once, as through Flask.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            g.page_cache_ok = "ping" if ping_database else "yes"
            return view(*args, **kwargs)

        return wrapped

    return decorator(view) if view is not None else decorator


@dataclass(frozen=True, slots=True)
class Kept:
    generation: int
    expires: float
    status: str
    headers: list[tuple[str, str]]
    parts: list[bytes]  # the body, split where the CSRF token was
    ping: bool


class PageCache:
    def __init__(self, app: Flask, wsgi_app: Callable):
        self.app = app
        self.wsgi_app = wsgi_app
        self.ttl = float(app.config["PAGE_CACHE_SECONDS"])
        self.kept: dict[tuple, Kept] = {}
        self._lock = threading.Lock()
        self._session_name = app.session_interface.get_cookie_name(app)
        self._token_field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        self._ready = False

    def _prepare(self) -> None:
        """Serializers and cookie attributes, made on first use (the secret key may be set
        after the app is created, as tests do)."""
        app = self.app
        interface = app.session_interface
        if not isinstance(interface, SecureCookieSessionInterface):
            raise RuntimeError("the page cache needs Flask's signed-cookie sessions")
        self._sessions = interface.get_signing_serializer(app)
        secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
        self._tokens = URLSafeTimedSerializer(secret, salt="wtf-csrf-token")
        self._cookie = dict(
            domain=interface.get_cookie_domain(app), path=interface.get_cookie_path(app),
            secure=interface.get_cookie_secure(app), httponly=interface.get_cookie_httponly(app),
            samesite=interface.get_cookie_samesite(app),
            partitioned=interface.get_cookie_partitioned(app),
        )
        self._max_age = int(app.permanent_session_lifetime.total_seconds())
        from coop.extensions import db

        with app.app_context():
            self._engine = db.engine
        self._ready = True

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.ttl <= 0 or environ.get("REQUEST_METHOD") != "GET" or (
                "HTTP_AUTHORIZATION" in environ):
            return self.wsgi_app(environ, start_response)
        if not self._ready:
            self._prepare()
        key = (environ.get("PATH_INFO"), environ.get("QUERY_STRING"), environ.get("HTTP_HOST"),
               environ.get("wsgi.url_scheme"), environ.get("HTTP_X_FORWARDED_HOST"),
               environ.get("HTTP_X_FORWARDED_PROTO"), environ.get("SCRIPT_NAME"))
        kept = self.kept.get(key)
        if kept is not None and kept.generation == _Generation.value and (
                time.monotonic() < kept.expires):
            raw = self._reader_token(environ.get("HTTP_COOKIE"))
            if raw is not False and (not kept.ping or self._database_answers()):
                return self._serve(kept, raw, start_response)
        return self._through_flask(key, environ, start_response)

    def _database_answers(self) -> bool:
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError:
            return False
        return True

    def _reader_token(self, cookie_header: str | None) -> str | None | bool:
        """The raw CSRF token of an anonymous reader's session; None when there is no cookie;
        False when the request carries anything else and must go through Flask."""
        if not cookie_header:
            return None
        cookies = parse_cookie(cookie_header)
        if set(cookies) != {self._session_name}:
            return False
        try:
            data = self._sessions.loads(cookies[self._session_name], max_age=self._max_age)
        except BadSignature:
            return False
        if not isinstance(data, dict) or set(data) != {self._token_field} or not isinstance(
                data[self._token_field], str):
            return False
        return data[self._token_field]

    def _serve(self, kept: Kept, raw: str | None, start_response: Callable):
        headers = list(kept.headers)
        body = kept.parts[0]
        if len(kept.parts) > 1:  # the page has a form: the reader's own token goes in
            if raw is None:
                raw = secrets.token_hex(20)
                value = self._sessions.dumps({self._token_field: raw})
                headers.append(("Set-Cookie", dump_cookie(self._session_name, value,
                                                          **self._cookie)))
            body = self._tokens.dumps(raw).encode("ascii").join(kept.parts)
        headers.append(("Content-Length", str(len(body))))
        start_response(kept.status, headers)
        return [body]

    def _through_flask(self, key: tuple, environ: dict, start_response: Callable):
        seen: dict = {}
        generation = _Generation.value

        def capture(status, headers, exc_info=None):
            clean = [(n, v) for n, v in headers if n not in (MARKER, PING_MARKER)]
            seen.update(status=status, headers=clean,
                        token=next((v for n, v in headers if n == MARKER), None),
                        ping=any(n == PING_MARKER for n, _ in headers))
            if exc_info is not None:
                return start_response(status, clean, exc_info)
            return start_response(status, clean)

        app_iter = self.wsgi_app(environ, capture)
        if seen.get("token") is None or not seen["status"].startswith("200"):
            return app_iter
        body = drain(app_iter)
        kept = self._keepable(seen, body, generation)
        if kept is not None:
            with self._lock:
                if len(self.kept) >= MAX_KEPT:
                    self.kept.clear()
                self.kept[key] = kept
        return [body]

    def _keepable(self, seen: dict, body: bytes, generation: int) -> Kept | None:
        headers = []
        for name, value in seen["headers"]:
            lower = name.lower()
            if lower == "set-cookie":
                # only the session cookie of an anonymous reader, holding only the token
                cookie_name, _, rest = value.partition("=")
                if cookie_name != self._session_name or self._reader_token(
                        f"{cookie_name}={rest.split(';', 1)[0]}") in (None, False):
                    return None
            elif lower != "content-length":
                headers.append((name, value))
        token = seen["token"].encode("ascii")
        parts = body.split(token) if token else [body]
        if generation != _Generation.value:
            return None  # something was committed while the page was being made
        return Kept(generation, time.monotonic() + self.ttl, seen["status"], headers, parts,
                    seen["ping"])


def _mark(response):
    """After a view that opted in: say the answer may be kept, and which token to cut out."""
    if not g.get("page_cache_ok") or response.status_code != 200:
        return response
    token_field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session_cookie = current_app.session_interface.get_cookie_name(current_app)
    if (current_user.is_authenticated or "csp_nonce" in g or response.direct_passthrough
            or set(session) - {token_field} or set(request.cookies) - {session_cookie}):
        return response
    response.headers[MARKER] = g.get(token_field) or ""
    if g.page_cache_ok == "ping":
        response.headers[PING_MARKER] = "1"
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("PAGE_CACHE_SECONDS", 5)
    app.after_request(_mark)
    app.wsgi_app = PageCache(app, app.wsgi_app)
