"""Configuration classes; secrets and deployment settings come from the environment."""

from __future__ import annotations

import datetime as dt
import math
import os
import secrets
import zlib
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from coop.db import normalise_database_url

#: secret keys that must never reach production
KNOWN_WEAK_SECRETS = {
    "dev",
    "development",
    "secret",
    "secret-key",
    "changeme",
    "change-me",
    "please-change-me",
    "your-secret-key",
    "coop",
    "test",
}
MIN_SECRET_LENGTH = 32
#: a production key's estimated entropy (length × bits per character) must reach this
MIN_SECRET_BITS = 120
HOW_TO_MAKE_A_KEY = "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"


class ConfigError(RuntimeError):
    """Raised when the app is asked to start with a configuration it must refuse."""


class Config:
    COOP_ENV = "development"
    SITE_NAME = "The People's Paper"
    #: the site's description for search results and shared links, on pages that have none
    #: of their own
    SITE_DESCRIPTION = ("The People's Paper is the daily newspaper owned by its readers: give "
                        "to the fighting fund, buy shares, come to our events and get the "
                        "newsletter.")
    #: the society's details, set once and shown wherever readers need them (footer, share
    #: pages, every email's signature and Reply-To, the privacy notice)
    SOCIETY_NAME = "People's Press Printing Society"
    SOCIETY_REGISTERED_NUMBER = "1234 R"
    SOCIETY_ADDRESS = "William Rust House, 52 Beachy Road, London E3 2NS"
    #: the membership secretary: the Reply-To of every email and the contact on share pages
    SOCIETY_EMAIL = "membership@example.org"
    SOCIETY_PHONE = "020 8510 0815"
    SOCIETY_BANK_ACCOUNT_NAME = "People's Press Printing Society Ltd"
    SOCIETY_BANK_SORT_CODE = "08-90-33"
    SOCIETY_BANK_ACCOUNT_NUMBER = "50501234"
    SOCIETY_CHEQUE_ADDRESS = "PPPS, William Rust House, 52 Beachy Road, London E3 2NS"
    #: a connection PostgreSQL dropped (a restart, a failover) is noticed and replaced before
    #: use; left out on SQLite (see load_config)
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    #: request bodies larger than this get 413
    MAX_CONTENT_LENGTH = 1024 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = dt.timedelta(days=14)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = dt.timedelta(days=14)
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    #: login throttle (coop/accounts/throttle.py): free failures per (account, address) before
    #: the doubling cool-down, and the much higher ceiling for an address alone
    LOGIN_FREE_FAILURES = 5
    LOGIN_ADDRESS_MAX_FAILURES = 100
    #: account links: invitation and password-reset lifetimes, reset emails per address an hour
    INVITATION_HOURS = 72
    PASSWORD_RESET_MINUTES = 60
    PASSWORD_RESET_PER_ADDRESS = 3
    PASSWORD_RESET_IP_RATE_LIMIT = "20 per hour"  # noqa: S105 - a rate, not a secret
    EMAIL_CHANGE_HOURS = 48
    #: staff and admin sessions end after this long without a request; their remember-me
    #: cookie lasts at most this long
    STAFF_IDLE_HOURS = 8
    STAFF_REMEMBER_HOURS = 24
    #: "staff": staff and admins must turn on two-step verification before using staff pages
    REQUIRE_TWO_FACTOR = ""
    #: set explicitly: Flask-Limiter's shared Limiter otherwise keeps "off" from an earlier app
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_STRATEGY = "moving-window"
    MAIL_SERVER = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_TIMEOUT = 10
    MAIL_DEFAULT_SENDER = "The People's Paper <noreply@localhost>"
    #: where development mail is written as .eml files (default instance/outbox)
    MAIL_OUTBOX = None
    #: absolute base URL used in emails (links must work outside a request)
    BASE_URL = "http://127.0.0.1:5000"
    PROXY_FIX = 0  # number of trusted proxies in front of the app
    #: other host names the site answers to in production, besides BASE_URL's (e.g. an
    #: internal name the load balancer's health check uses); space-separated or a JSON list
    EXTRA_TRUSTED_HOSTS: list[str] = []
    DEMO_ACCOUNTS = True
    #: run tasks at once in the process that queues them (no worker); the tests' default
    TASKS_IMMEDIATE = False
    #: the queue's SQLite file when REDIS_URL is unset (default instance/tasks.sqlite3)
    TASKS_SQLITE_PATH = None
    #: a delivery task that finds the database down tries again after this many seconds
    TASKS_RETRY_SECONDS = 15
    #: /healthz says the queue is behind when a message has waited longer than this (seconds)
    TASKS_LAG_SECONDS = 120
    #: how long a worker may hold a message it is sending before another takes it over
    OUTBOX_CLAIM_SECONDS = 120
    #: seconds between delivery attempts; after the last the message waits for staff
    OUTBOX_BACKOFF = (30, 120, 600, 1800, 3600, 3600, 3600, 3600)
    #: delivered emails are forgotten after this many days
    OUTBOX_KEEP_DAYS = 30
    #: people with a place are reminded this many hours before an event
    EVENT_REMINDER_HOURS = 24
    #: closed share enquiries keep their personal data this many days, then it is erased
    ENQUIRY_RETENTION_DAYS = 730
    #: newsletter sign-ups never confirmed are deleted after this many days
    NEWSLETTER_PENDING_DAYS = 30
    #: the payment API's Idempotency-Key answers are forgotten after this many days
    API_IDEMPOTENCY_DAYS = 90


class DevelopmentConfig(Config):
    pass


class TestingConfig(Config):
    COOP_ENV = "testing"
    TESTING = True
    SECRET_KEY = "testing-" + "x" * 40  # noqa: S105 - tests only
    DEMO_ACCOUNTS = False
    TASKS_IMMEDIATE = True


class ProductionConfig(Config):
    COOP_ENV = "production"
    DEMO_ACCOUNTS = False
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-session"
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_NAME = "__Host-remember"
    PREFERRED_URL_SCHEME = "https"


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(app, overrides: dict | None) -> None:
    """Defaults by ``COOP_ENV``, then ``COOP_*`` variables, then ``overrides``."""
    env = (overrides or {}).get("COOP_ENV") or os.environ.get("COOP_ENV", "development")
    if env not in CONFIGS:
        raise ConfigError(f"COOP_ENV must be one of {', '.join(CONFIGS)}, not {env!r}")
    app.config.from_object(CONFIGS[env])
    app.config.from_prefixed_env("COOP")
    # The conventional unprefixed names are honoured too.
    for name in ("DATABASE_URL", "SECRET_KEY", "REDIS_URL"):
        if name in os.environ and f"COOP_{name}" not in os.environ:
            app.config[name] = os.environ[name]
    if overrides:
        app.config.update(overrides)

    url = app.config.get("SQLALCHEMY_DATABASE_URI") or app.config.get("DATABASE_URL")
    if not url:
        url = "sqlite:///" + str(Path(app.instance_path) / "coop.sqlite3")
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(url)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A SQLite file never drops a connection: the ping would be a wasted SELECT 1 on
        # every request. (A copy, not the class's dict, which every app shares.)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            k: v for k, v in app.config["SQLALCHEMY_ENGINE_OPTIONS"].items()
            if k != "pool_pre_ping"}
    if app.config.get("REDIS_URL") and app.config["RATELIMIT_STORAGE_URI"] == "memory://":
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"]
    if not app.config.get("MAIL_OUTBOX"):
        app.config["MAIL_OUTBOX"] = str(Path(app.instance_path) / "outbox")

    _ensure_secret_key(app, env)
    if env == "production":
        _check_base_url(app)
    if env == "production" and (app.config.get("DEBUG") or os.environ.get("FLASK_DEBUG") == "1"):
        raise ConfigError("Debug mode is never allowed in production: unset FLASK_DEBUG/DEBUG.")


def _ensure_secret_key(app, env: str) -> None:
    key = app.config.get("SECRET_KEY")
    if env == "production":
        if not key:
            raise ConfigError(
                "SECRET_KEY is not set. In production set COOP_SECRET_KEY (or SECRET_KEY) to a "
                f"random string of at least {MIN_SECRET_LENGTH} characters, made with "
                f"{HOW_TO_MAKE_A_KEY}."
            )
        if len(key) < MIN_SECRET_LENGTH or key.lower() in KNOWN_WEAK_SECRETS:
            raise ConfigError(
                f"SECRET_KEY is too weak for production: use at least {MIN_SECRET_LENGTH} "
                "random characters, not a default or example value. Make one with "
                f"{HOW_TO_MAKE_A_KEY}."
            )
        problem = secret_key_problem(key)
        if problem:
            raise ConfigError(
                f"SECRET_KEY is too weak for production: {problem}. Use a random key, made "
                f"with {HOW_TO_MAKE_A_KEY}."
            )
        return
    if key:
        return
    # Development: generate a key once and keep it, so sessions survive restarts.
    path = Path(app.instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    app.config["SECRET_KEY"] = path.read_text().strip()


def secret_key_problem(key: str | bytes) -> str | None:
    """Why ``key`` has too little entropy to sign sessions and links, or None.

    Length alone proves nothing: ``"a" * 32`` and ``"ab" * 20`` are long. The estimate is the
    key's length times the Shannon entropy of its characters, which a random key of 32 URL-safe
    characters (``token_urlsafe(24)``) or 64 hex digits (``token_hex()``) passes easily; a key
    that is one pattern repeated, or mostly one, is refused whatever its length.
    """
    text = key.decode("latin-1") if isinstance(key, bytes) else key
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text == text[:size] * (len(text) // size):
            return f"it is one {size}-character pattern repeated"
    if len(zlib.compress(text.encode("utf-8"), 9)) < len(text) // 2:
        return "it is mostly a repeated pattern"
    counts = Counter(text)
    bits = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) * len(text)
    if bits < MIN_SECRET_BITS:
        return (f"it has about {bits:.0f} bits of entropy ({len(counts)} different characters "
                f"over {len(text)}); a random key has at least {MIN_SECRET_BITS}")
    return None


def _check_base_url(app) -> None:
    """Production links in emails, feeds and calendars are built from BASE_URL alone, so it
    must be the site's real https address; requests for any other host get 400."""
    base = str(app.config.get("BASE_URL") or "").strip()
    parts = urlsplit(base)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that isn't a number
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ConfigError(
            "COOP_BASE_URL must be set in production to the site's public address, an "
            "absolute https URL such as https://coop.example.org (no query, no #fragment): "
            "every link in emails, feeds and calendars is built from it, and requests for any "
            f"other host are refused. It is now {base!r}."
        )
    app.config["BASE_URL"] = base.rstrip("/")
    extra = app.config.get("EXTRA_TRUSTED_HOSTS") or []
    if isinstance(extra, str):
        extra = extra.split()
    app.config["TRUSTED_HOSTS"] = [parts.hostname, *(h.strip() for h in extra if h.strip())]
