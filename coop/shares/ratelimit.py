"""How many enquiries an email address (and a client) may send: counted before saving.

Flask-Limiter's decorators test the limit before the view and count after it, so posts that
arrive together all pass the test; and a post that failed still counted. Here the view asks
:func:`acquire` once the form is valid and before anything is saved: one atomic step checks
every limit and, only when all have room, records the post under each of them (a Lua script
in Redis, a lock in memory). If the post is then not saved (a rule broken, the database down)
the view calls :func:`release` and it no longer counts.

Where the counts live: Redis when ``REDIS_URL`` (or a ``redis://`` ``RATELIMIT_STORAGE_URI``)
is set, shared by every server process; otherwise this process's memory. With Redis set but
unreachable, :func:`acquire` raises :class:`LimitsUnavailable` and the form answers 503 with
nothing saved (a per-process fallback would quietly multiply the limit by the worker count).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

from flask import Flask, current_app
from limits import parse

log = logging.getLogger(__name__)

#: the ``app.extensions`` key holding this app's counter
EXTENSION = "shares_limits"
#: seconds the reader is asked to wait when the counter's store can't be reached
UNAVAILABLE_RETRY_AFTER = 60

# KEYS: one sorted set per limit. ARGV: now (ms), the post's token, then (amount, window ms)
# per key. Entries older than the window are dropped; if any set is full, nothing is added
# and {index, ms until its oldest entry leaves} comes back; otherwise the token is added to
# every set and {0, 0} comes back. Redis runs a script alone, so concurrent posts from any
# number of server processes are counted one at a time.
_ACQUIRE = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local amount = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= amount then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if oldest[2] == nil then return {i, window} end
    return {i, tonumber(oldest[2]) + window - now}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, tonumber(ARGV[2 + 2 * i]))
end
return {0, 0}
"""


class LimitsUnavailable(Exception):
    """The shared store of the counts (Redis) could not be reached; nothing was counted."""


@dataclass(frozen=True)
class Limit:
    #: "address" or "client": which limit, for the message
    scope: str
    key: str
    amount: int
    window_seconds: int


@dataclass(frozen=True)
class Ticket:
    """A post that was counted; :func:`release` takes it back."""

    token: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Refused:
    scope: str
    #: whole seconds until the post would be accepted (at least 1)
    retry_after: int


class MemoryCounter:
    """The counts in this process: right for one server process, and for tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, list[tuple[float, str]]] = defaultdict(list)

    def acquire(self, limits: list[Limit], token: str, now: float) -> Refused | None:
        with self._lock:
            for limit in limits:
                entries = self._entries[limit.key]
                entries[:] = [e for e in entries if e[0] > now - limit.window_seconds]
                if len(entries) >= limit.amount:
                    wait = (entries[0][0] + limit.window_seconds - now) if entries else (
                        limit.window_seconds)
                    return Refused(limit.scope, max(1, int(wait + 0.999)))
            for limit in limits:
                self._entries[limit.key].append((now, token))
        return None

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            for key in ticket.keys:
                self._entries[key] = [e for e in self._entries[key] if e[1] != ticket.token]


class RedisCounter:
    """The counts in Redis, shared by every server process that uses the same database."""

    def __init__(self, url: str) -> None:
        import redis

        self._errors = (redis.RedisError, OSError)
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._script = self._redis.register_script(_ACQUIRE)

    def acquire(self, limits: list[Limit], token: str, now: float) -> Refused | None:
        args: list = [int(now * 1000), token]
        for limit in limits:
            args += [limit.amount, limit.window_seconds * 1000]
        try:
            index, wait_ms = self._script(keys=[limit.key for limit in limits], args=args)
        except self._errors as err:
            raise LimitsUnavailable(str(err)) from err
        if int(index) == 0:
            return None
        return Refused(limits[int(index) - 1].scope, max(1, (int(wait_ms) + 999) // 1000))

    def release(self, ticket: Ticket) -> None:
        try:
            with self._redis.pipeline() as pipe:
                for key in ticket.keys:
                    pipe.zrem(key, ticket.token)
                pipe.execute()
        except self._errors:
            log.warning("could not take back a share enquiry's count: Redis unreachable")


def storage_url(app: Flask) -> str:
    """The Redis URL the counts are kept at, or "" for this process's memory."""
    for name in ("REDIS_URL", "RATELIMIT_STORAGE_URI"):
        url = app.config.get(name) or ""
        if url.startswith(("redis://", "rediss://", "unix://")):
            return url
    return ""


def init_app(app: Flask) -> None:
    from coop.config import ConfigError

    for name in ("SHARES_RATE_LIMIT", "SHARES_CLIENT_RATE_LIMIT"):
        try:
            parse(str(app.config[name]))
        except ValueError:
            raise ConfigError(f"{name} must be a rate like '5 per hour', not "
                              f"{app.config[name]!r}.") from None
    url = storage_url(app)
    app.extensions[EXTENSION] = RedisCounter(url) if url else MemoryCounter()
    if not url and app.config.get("COOP_ENV") == "production":
        workers = worker_count()
        if workers is None or workers > 1:
            log.warning(
                "REDIS_URL is not set: rate limits (share and supporter enquiries, newsletter, "
                "log-in) are counted in each server process's memory, so with %s workers each "
                "address gets that many times its allowance. Set REDIS_URL to share them.",
                workers if workers is not None else "several (WEB_CONCURRENCY or --workers)",
            )


def worker_count(argv: list[str] | None = None, environ=None) -> int | None:
    """Gunicorn's worker count from its command line, ``GUNICORN_CMD_ARGS`` or
    ``WEB_CONCURRENCY``; 1 when not under gunicorn; None when it can't be told."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    program = os.path.basename(argv[0]) if argv else ""
    args = list(argv[1:]) + shlex.split(environ.get("GUNICORN_CMD_ARGS", ""))
    for i, arg in enumerate(args):
        value = None
        if arg in ("-w", "--workers") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--workers="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-w") and len(arg) > 2:
            value = arg[2:]
        if value is not None:
            return int(value) if value.isdigit() else None
    if environ.get("WEB_CONCURRENCY", "").isdigit():
        return int(environ["WEB_CONCURRENCY"])
    if "gunicorn" in program or "gunicorn" in environ.get("SERVER_SOFTWARE", ""):
        return 1
    return 1 if program in ("flask", "pytest", "") else None


def _digest(text: str) -> str:
    """Keys name a hash of the address, so Redis never holds anyone's email."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def limits_for(email: str, client: str) -> list[Limit]:
    config = current_app.config
    address = parse(config["SHARES_RATE_LIMIT"])
    ceiling = parse(config["SHARES_CLIENT_RATE_LIMIT"])
    prefix = "coop:share-enquiries"
    return [
        Limit("address", f"{prefix}:address:{_digest(email)}", address.amount,
              address.get_expiry()),
        Limit("client", f"{prefix}:client:{_digest(client)}", ceiling.amount,
              ceiling.get_expiry()),
    ]


def acquire(email: str, client: str) -> Ticket | Refused:
    """Count one post for this address and client, or refuse it (nothing counted).

    :raise LimitsUnavailable: when the shared store can't be reached.
    """
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return Ticket(token="", keys=())
    counter = current_app.extensions[EXTENSION]
    limits = limits_for(email, client)
    token = uuid.uuid4().hex
    refused = counter.acquire(limits, token, time.time())
    if refused is not None:
        return refused
    return Ticket(token=token, keys=tuple(limit.key for limit in limits))


def release(ticket: Ticket) -> None:
    """The counted post was not saved after all: it no longer counts."""
    if ticket.keys:
        current_app.extensions[EXTENSION].release(ticket)
