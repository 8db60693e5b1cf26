"""Two-step verification: TOTP (an authenticator app) and ten single-use recovery codes.

The secret is shown once as a QR code drawn on the server (SVG) and as text. A code is
accepted for the 30-second step before, at or after now, and never for a step at or before
the last one accepted (a code can't be replayed within its window). Recovery codes are kept
only as sha256 hashes (each carries 80 random bits) and shown once. Codes go through the same
throttle as passwords, on a counter of their own that a correct password does not reset.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import re
import secrets
import unicodedata

import pyotp
import qrcode
import qrcode.image.svg
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from coop import audit
from coop.accounts import emails, throttle
from coop.accounts.models import RecoveryCode, User
from coop.db import now_utc
from coop.formatting import london_datetime
from coop.urls import external_url

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


class InvalidCode(Exception):
    DEFAULT = ("That code isn't right. Check the app and type the 6 digits it shows now, or "
               "one of your recovery codes.")

    def __init__(self, message: str = DEFAULT):
        super().__init__(message)


#: a right code already used (just now, to turn verification on, say): each works once
USED_CODE = ("That code has just been used, and each works once. Wait for the app to show the "
             "next one (a new one every 30 seconds) and type that.")


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email,
                                               issuer_name=current_app.config["SITE_NAME"])


def qr_data_uri(text: str) -> str:
    """The QR code of ``text`` as an SVG ``data:`` URI (for an ``<img>``; made here, no JS)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10,
                        border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def format_secret(secret: str) -> str:
    """``JBSWY3DPEHPK3PXP`` → ``JBSW Y3DP EHPK 3PXP``, easier to type."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _normalise(code: str) -> str:
    """Spaces and dashes out, lower case; full-width digits and letters (a phone keyboard
    set to Japanese or Chinese types them) read as ASCII (NFKC)."""
    return re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", code or "")).lower()


def _code_hash(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def _step(now: dt.datetime) -> int:
    return int(now.timestamp()) // 30


def totp_matches(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step (now ±1) ``code`` is right for, else None."""
    code = _normalise(code)
    if not re.fullmatch(r"[0-9]{6}", code):  # \d would let other scripts' digits through
        return None
    totp = pyotp.TOTP(secret)
    for step in (_step(now) - 1, _step(now), _step(now) + 1):
        if secrets.compare_digest(totp.at(step * 30), code):
            return step
    return None


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace the account's recovery codes with ten new ones; returned once, kept hashed."""
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_code_hash(c)) for c in codes)
    session.flush()
    return codes


def recovery_codes_left(session: Session, user: User) -> int:
    return session.scalar(sa.select(sa.func.count(RecoveryCode.id)).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def enable(session: Session, user: User, secret: str, code: str, *,
           now: dt.datetime | None = None) -> list[str]:
    """Turn two-step verification on once ``code`` proves the app has ``secret``; returns the
    recovery codes (to show once). The owner is told by email.

    :raise InvalidCode: for a wrong code.
    """
    now = now or now_utc()
    step = totp_matches(secret, code, now)
    if step is None:
        raise InvalidCode("That code doesn't match. Scan the QR code again (or type the key) "
                          "and enter the 6 digits the app shows now.")
    user.totp_secret = secret
    user.totp_enabled_at = now
    user.totp_last_step = step
    codes = new_recovery_codes(session, user)
    audit.record(session, "user.two_factor_enabled", "user", user.id, by=user)
    emails.send(session, "two_factor_on", user.email, name=user.name,
                when=london_datetime(now))
    session.flush()
    return codes


def disable(session: Session, user: User, *, by: User) -> None:
    """Turn it off (the owner, after their password; or an admin's reset, audited as such)."""
    by_admin = by.id != user.id
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(session, "user.two_factor_reset" if by_admin else "user.two_factor_disabled",
                 "user", user.id, by=by)
    emails.send(session, "two_factor_reset" if by_admin else "two_factor_off", user.email,
                name=user.name,
                when=london_datetime(now_utc()), account_url=external_url("accounts.account"))
    session.flush()


#: wrong codes for one account in a day, from any address, before its owner is told: whoever
#: types them knows the password
CODE_NOTICE_AFTER = 10
#: ... and before no more are checked until the day is out or the password changes (30 guesses
#: a day at 3 in a million each; spread over many addresses they were not counted together)
CODE_FAILURES_LIMIT = 30
_DAY = dt.timedelta(days=1)


class CodesExhausted(throttle.Throttled):
    """Too many wrong codes for this account today, from anywhere."""

    def __init__(self, retry_after: dt.timedelta):
        super().__init__(retry_after, "Too many wrong codes have been typed for this account "
                         "today. Choose a new password with “Forgot your password?” (that "
                         "ends the wait), or try again tomorrow.")


def _account_key(user: User) -> str:
    """The account's code counter, new with each password: changing it ends the wait."""
    changed = user.password_changed_at.isoformat() if user.password_changed_at else ""
    return f"{user.id}:{changed}"


def verify(session: Session, user: User, code: str, *, ip: str,
           now: dt.datetime | None = None) -> str:
    """Check a second-factor code (TOTP or a recovery code) through the throttle.

    Returns ``"totp"`` or ``"recovery"``. The accepted time step or recovery code is used up
    by a guarded UPDATE, so two requests with the same code can't both pass. Wrong codes are
    counted per address (as passwords are) and per account from anywhere: after
    :data:`CODE_NOTICE_AFTER` the owner is told someone has their password, after
    :data:`CODE_FAILURES_LIMIT` no code is checked until the day is out or the password is
    changed.

    :raise throttle.Throttled: when this address must wait (:class:`CodesExhausted`: the
        account).
    :raise InvalidCode: for a wrong, replayed or used code.
    """
    now = now or now_utc()
    config = current_app.config
    secret_key, account = config["SECRET_KEY"], _account_key(user)
    # One of the day's tries taken before the code is checked, in one locked step (requests
    # sent at once can't all pass a count read before any of them wrote it); a right code, or
    # an address told to wait, gives it back.
    if not throttle.count_once(session, secret_key, "code-account", account,
                               limit=CODE_FAILURES_LIMIT, window=_DAY, now=now):
        _count, since = throttle.counted(session, secret_key, "code-account", account,
                                         window=_DAY, now=now)
        raise CodesExhausted(since + _DAY - now)
    pair = throttle.Rule(free=config["LOGIN_FREE_FAILURES"], base=throttle.PAIR.base,
                         cap=throttle.PAIR.cap, reset=throttle.PAIR.reset)
    try:
        ticket = throttle.reserve(session, secret_key, "code", str(user.id), ip, pair=pair,
                                  now=now)
    except throttle.Throttled:
        throttle.give_back(session, secret_key, "code-account", account)
        raise
    kind = _use_code(session, user, code, now)
    if kind in (None, "used"):
        failures, _since = throttle.counted(session, secret_key, "code-account", account,
                                            window=_DAY, now=now)
        if failures >= CODE_NOTICE_AFTER and throttle.count_once(
                session, secret_key, "code-notice", account, limit=1, window=_DAY, now=now):
            emails.send(session, "code_failures", user.email, name=user.name,
                        forgot_url=external_url("accounts.forgot_password"))
            audit.record(session, "user.code_failures_notice", "user", user.id, by=None)
            session.commit()  # the notice goes even though the request answers an error
        raise InvalidCode(USED_CODE if kind == "used" else InvalidCode.DEFAULT)
    throttle.give_back(session, secret_key, "code-account", account)
    throttle.succeeded(session, ticket)
    if kind == "recovery":
        audit.record(session, "user.recovery_code_used", "user", user.id, by=user)
    session.flush()
    return kind


def _use_code(session: Session, user: User, code: str, now: dt.datetime) -> str | None:
    """Use up the code, in a transaction of its own (committed at once, like the throttle's
    counters, so a used code stays used whatever the request does next): "totp",
    "recovery", "used" (a right code for a time step already used) or None."""
    if not user.two_factor_enabled or not code or len(code) > 40:
        return None
    users, codes = User.__table__, RecoveryCode.__table__
    step = totp_matches(user.totp_secret, code, now)
    with session.get_bind().begin() as conn:
        if step is not None:
            result = conn.execute(
                users.update()
                .where(users.c.id == user.id,
                       sa.or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step))
                .values(totp_last_step=step))
            kind = "totp" if result.rowcount == 1 else "used"  # a replay within the window
        else:
            result = conn.execute(
                codes.update()
                .where(codes.c.user_id == user.id, codes.c.code_hash == _code_hash(code),
                       codes.c.used_at.is_(None))
                .values(used_at=now))
            kind = "recovery" if result.rowcount == 1 else None
    session.expire(user, ["totp_last_step"])
    return kind
