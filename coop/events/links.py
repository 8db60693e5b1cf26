"""The token in a registration's emailed link: the row's random ``token`` signed with the app's
secret key. The database holds only the unsigned value, so a copy of it (a backup, a leaked
dump) is not enough to open or cancel anyone's registration; the links in every email a
registration gets (confirmation, moving up, staff messages) stay the same. They stop working
:data:`KEEP_AFTER` the event's end."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from coop.db import now_utc
from coop.events.models import Event, Registration

SALT = "coop.events.registration-link"
#: longer than any token this module makes (about 100 characters)
MAX_LENGTH = 200
#: how long after its event ends a registration's link still opens it (an old email, a
#: forwarded one or a shared inbox then shows nothing; a member still has /account)
KEEP_AFTER = dt.timedelta(days=30)


def _serializer() -> URLSafeSerializer:
    # the current key last: itsdangerous signs with it and also accepts the fallbacks
    keys = [*(current_app.config.get("SECRET_KEY_FALLBACKS") or []), current_app.secret_key]
    return URLSafeSerializer(keys, salt=SALT)


def sign(stored_token: str) -> str:
    return _serializer().dumps(stored_token)


def link_token(registration: Registration) -> str:
    """What goes in the URL of ``events.manage`` and ``events.cancel_by_token``."""
    return sign(registration.token)


def stored_token(link: str) -> str | None:
    """The row's token from a link's, or None if the link's is malformed or not ours."""
    if not link or len(link) > MAX_LENGTH:
        return None
    try:
        value = _serializer().loads(link)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def expired(event: Event, *, now: dt.datetime | None = None) -> bool:
    """True when links to registrations for ``event`` no longer open them."""
    return event.ends_at + KEEP_AFTER < (now or now_utc())
