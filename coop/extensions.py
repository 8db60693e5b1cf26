"""Flask extensions, unbound; ``create_app`` binds them."""

from flask import current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from coop.db import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
#: ``g`` flags about who is logged in, set through Flask-Login's public hooks (the user loader
#: and its ``user_logged_in`` signal) rather than read from its private ``g._login_user``:
#: a logged-in person's account was loaded in this request (their page is never kept), and
#: an error page must not ask the database who is logged in (it may be the database that
#: failed), so the loader answers "nobody"
USER_LOADED = "coop_user_loaded"
LOAD_NO_USER = "coop_load_no_user"
limiter = Limiter(key_func=get_remote_address, default_limits=[])

#: the methods no rate limit of the app's counts
READING = frozenset({"GET", "HEAD", "OPTIONS"})
#: settings (COOP_RATELIMIT_DEFAULT, ...) that limit every request, reads included
LIMITS_ON_EVERY_REQUEST = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")


#: set on ``g`` for a post whose form is only drawn again because its CSRF token was stale
#: (``coop.forms.redraws_on_stale_token``): it saves nothing, so it counts against no limit
STALE_FORM_FLAG = "form_token_was_stale"


@limiter.request_filter
def _stale_form_is_not_counted() -> bool:
    """Otherwise anyone could use up someone's allowance (the newsletter's or an event's, per
    address) with posts that carry no token at all."""
    return bool(g.get(STALE_FORM_FLAG))


@limiter.request_filter
def _reading_is_not_limited() -> bool:
    """Every rate limit the app declares counts a form's POST (each with
    ``methods=["POST"]``; tests/test_extensions.py reads them all), so a request that only
    reads, most of them, skips the limiter's look-up of the view's limits (5-10% of a page's
    CPU), unless an operator has set a limit on every request."""
    return request.method in READING and not any(
        current_app.config.get(name) for name in LIMITS_ON_EVERY_REQUEST)
