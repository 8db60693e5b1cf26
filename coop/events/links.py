"""The token in a registration's emailed link: the row's random ``token`` signed with the app's
secret key. The database holds only the unsigned value, so a copy of it (a backup, a leaked
dump) is not enough to open or cancel anyone's registration; the links in every email a
registration gets (confirmation, moving up, staff messages) stay the same."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from coop.events.models import Registration

SALT = "coop.events.registration-link"
#: longer than any token this module makes (about 100 characters)
MAX_LENGTH = 200


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
