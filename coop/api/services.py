"""API tokens and idempotency keys as plain functions over a session (they flush, never commit)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coop import audit
from coop.api.models import KEY_MAX, NAME_MAX, PREFIX_LENGTH, ApiToken, IdempotencyKey
from coop.db import now_utc
from coop.security import token_digest

TOKEN_PREFIX = "coop_"  # noqa: S105 - the visible start of every token, not a secret
#: what a token looks like: ``coop_`` then 43 URL-safe characters (256 random bits)
TOKEN_RE = re.compile(r"^coop_[A-Za-z0-9_-]{43}$")
#: how stale ``last_used_at`` may get before a request updates it
LAST_USED_PRECISION = dt.timedelta(minutes=1)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
#: printable ASCII, no leading or trailing space
KEY_RE = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")


class ApiError(Exception):
    """A rule about tokens or keys was broken; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def normalise_name(name: str) -> str:
    return " ".join((name or "").split())


def check_name(session: Session, name: str) -> str:
    name = normalise_name(name)
    if not name:
        raise ApiError("Give the token a name, e.g. the service that will use it.", "name")
    if len(name) > NAME_MAX:
        raise ApiError(f"Use at most {NAME_MAX} characters.", "name")
    if not NAME_RE.match(name):
        raise ApiError("Use letters, digits, spaces, dots, hyphens and underscores.", "name")
    exists = session.scalar(
        sa.select(ApiToken.id).where(sa.func.lower(ApiToken.name) == name.lower())
    )
    if exists is not None:
        raise ApiError("A token with this name already exists (names are never reused, so "
                       "ledger entries always point to one token).", "name")
    return name


def create_token(session: Session, name: str, *, by=None) -> tuple[ApiToken, str]:
    """Make a token; returns it with the secret, which is shown once and never stored."""
    name = check_name(session, name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        token_hash=token_digest(secret),
        created_by_id=getattr(by, "id", by),
    )
    session.add(token)
    session.flush()
    audit.record(session, "api_token.created", "api_token", token.id, by=by,
                 name=token.name, prefix=token.prefix)
    return token, secret


def revoke_token(session: Session, token: ApiToken, *, by=None) -> bool:
    """Revoke a token; False if it already was (nothing changes then)."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now_utc()
    token.revoked_by_id = getattr(by, "id", by)
    session.flush()
    audit.record(session, "api_token.revoked", "api_token", token.id, by=by,
                 name=token.name, prefix=token.prefix)
    return True


def find_token(session: Session, name_or_prefix: str) -> ApiToken | None:
    value = normalise_name(name_or_prefix)
    return session.scalar(
        sa.select(ApiToken).where(
            sa.or_(sa.func.lower(ApiToken.name) == value.lower(), ApiToken.prefix == value)
        )
    )


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(
        sa.select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(),
                                     ApiToken.id.desc())
    ))


def authenticate(session: Session, presented: str) -> ApiToken | None:
    """The active token matching ``presented``, or None. Marks it used (saved by the
    caller's commit)."""
    if not presented or not TOKEN_RE.match(presented):
        return None
    digest = token_digest(presented)
    token = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup is by an indexed hash; compare again in constant time for good measure.
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None:
        return None
    now = now_utc()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        # Not on every request: each write would queue that token's requests behind it.
        token.last_used_at = now
    return token


# Idempotency keys -------------------------------------------------------------------------


def check_key(value: str | None) -> str:
    if value is None or value == "":
        raise ApiError("Send an Idempotency-Key header: a unique value for this request, "
                       "e.g. a UUID, reused only when retrying the same request.",
                       "Idempotency-Key")
    if len(value) > KEY_MAX or not KEY_RE.match(value):
        raise ApiError(f"Idempotency-Key must be 1–{KEY_MAX} printable ASCII characters.",
                       "Idempotency-Key")
    return value


def request_hash(method: str, path: str, body: Any) -> str:
    """A fingerprint of the request: key order and spacing in the JSON do not matter."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    response: dict[str, Any]
    same_request: bool


def stored_answer(session: Session, token: ApiToken, key: str,
                  fingerprint: str) -> StoredAnswer | None:
    row = session.scalar(
        sa.select(IdempotencyKey).where(IdempotencyKey.token_id == token.id,
                                        IdempotencyKey.key == key)
    )
    if row is None:
        return None
    return StoredAnswer(row.status_code, row.response,
                        hmac.compare_digest(row.request_hash, fingerprint))


def claim_key(session: Session, token: ApiToken, key: str, fingerprint: str) -> IdempotencyKey:
    """Insert the key before doing the work: a request racing with the same key waits on the
    unique constraint and then fails with IntegrityError, so only one of them records."""
    row = IdempotencyKey(token_id=token.id, key=key, request_hash=fingerprint,
                         status_code=0, response={})
    session.add(row)
    session.flush()
    return row


def store_answer(session: Session, row: IdempotencyKey, status_code: int,
                 response: dict[str, Any]) -> None:
    row.status_code = status_code
    row.response = response
    session.flush()


# The idempotent request -------------------------------------------------------------------


class MalformedJSON(ValueError):
    pass


def _refuse_constant(name: str):
    raise MalformedJSON(f"{name} is not allowed in JSON")


#: longer integers are refused before Python converts them (over 4,300 digits it raises)
MAX_INT_DIGITS = 1000


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedJSON(f"a number has more than {MAX_INT_DIGITS} digits")
    return int(text)


def parse_json(raw: bytes) -> Any:
    """Standard JSON only: UTF-8, no NaN or Infinity, integers of at most 1,000 digits."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJSON("it is not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int)
    except MalformedJSON:
        raise
    except json.JSONDecodeError as err:
        raise MalformedJSON(f"{err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise MalformedJSON("it is nested too deeply") from None
    try:
        # "\ud800" is valid JSON syntax but no character: it can't be stored or hashed
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedJSON("a \\u escape names half of a character (a lone surrogate, "
                            "\\ud800 to \\udfff)") from None
    except RecursionError:
        raise MalformedJSON("it is nested too deeply") from None
    return value


@dataclass(frozen=True)
class Answer:
    """What an idempotent request answers: fresh, or replayed from the key's store."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False


class KeyReused(ApiError):
    """The key was stored for a different request."""

    def __init__(self):
        super().__init__("This Idempotency-Key was already used for a different request. Use "
                         "a new key for a new request; reuse a key only to retry exactly the "
                         "same request.", "Idempotency-Key")


def replay(session: Session, token: ApiToken, key: str, fingerprint: str) -> Answer | None:
    """The stored answer for this key, or None.

    :raise KeyReused: when the key was used for a different request.
    """
    stored = stored_answer(session, token, key, fingerprint)
    if stored is None:
        return None
    if not stored.same_request:
        raise KeyReused()
    return Answer(stored.status_code, stored.response, replayed=True)


def idempotent(session: Session, token: ApiToken, key: str, fingerprint: str,
               act: Callable[[], tuple[int, dict[str, Any]]]) -> Answer:
    """Answer an idempotent request: a retry gets the stored answer and ``act`` doesn't run;
    otherwise the key is claimed first (a racing twin then fails on the unique constraint, and
    its caller answers with :func:`replay` after rolling back), ``act()`` does the work and
    its answer is stored with it, in the caller's transaction. Exceptions from ``act``
    propagate (the caller rolls back, so a refused request is not remembered).

    :raise KeyReused: the key was used for a different request.
    """
    answer = replay(session, token, key, fingerprint)
    if answer is not None:
        return answer
    claimed = claim_key(session, token, key, fingerprint)
    status_code, body = act()
    store_answer(session, claimed, status_code, body)
    return Answer(status_code, body)


def purge_keys(session: Session, *, older_than: dt.timedelta,
               now: dt.datetime | None = None) -> int:
    """Forget stored answers older than ``older_than``; a retry after that would record again,
    so keep them far longer than any client retries (the CLI's default is 90 days)."""
    cutoff = (now or now_utc()) - older_than
    result = session.execute(
        sa.delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)
    )
    session.flush()
    return result.rowcount or 0
