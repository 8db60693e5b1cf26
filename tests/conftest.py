"""Fixtures: an app on a fresh database per test (SQLite by default, PostgreSQL when
``DATABASE_URL`` is set), clients, users and a login helper.

The schema is built once per test session by running the Alembic migrations; each test
then gets a copy (SQLite) or freshly truncated tables (PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import hypothesis
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from jinja2 import FileSystemBytecodeCache

from coop import create_app
from coop.accounts import passwords
from coop.db import Base, normalise_database_url
from coop.extensions import db as _db

#: no per-example time limit: on a busy 2-core CI machine a slow example is not a wrong one
hypothesis.settings.register_profile("coop", deadline=None)
hypothesis.settings.load_profile("coop")

PG_URL = os.environ.get("DATABASE_URL")
ENGINE = "postgresql" if PG_URL else "sqlite"
PASSWORD = "correct horse battery staple"
#: what a production app needs to start: a random-looking key and an https BASE_URL
PRODUCTION = {
    "COOP_ENV": "production",
    "SECRET_KEY": "Jq3vX9-tLr0bW8kZ2yNcUe5hGs7aPdF1mQxT4oVi6RjEwKzHn_BuYlSgCfMpAD",  # noqa: S105
    "BASE_URL": "https://localhost",
}


#: each test builds its own app, and each app's Jinja environment would compile every template
#: it renders again (a third of a quick test's time); they share Jinja's own bytecode cache,
#: keyed by template name and source checksum, in a folder per test session.
_TEMPLATE_BYTECODE: FileSystemBytecodeCache | None = None


def pytest_report_header(config):
    return f"coop test database: {ENGINE}" + (f" ({PG_URL})" if PG_URL else "")


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing():
    """argon2 at full strength costs ~50 ms a hash; tests use cheap parameters."""
    original = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = original


def _worker_suffix() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"_{worker}" if worker else ""


def _pg_worker_url() -> str:
    """Each xdist worker gets a database of its own, created on first use."""
    base = sa.make_url(normalise_database_url(PG_URL))
    suffix = _worker_suffix()
    if not suffix:
        return base.render_as_string(hide_password=False)
    name = f"{base.database}{suffix}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app({"COOP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        if ENGINE == "postgresql":
            with _db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        upgrade(revision="head")
        _db.engine.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory):
    """The migrated schema: a SQLite file to copy, or the PostgreSQL URL to truncate."""
    if ENGINE == "postgresql":
        url = _pg_worker_url()
        try:
            _migrate(url)
        except sa.exc.OperationalError as err:
            pytest.fail(f"DATABASE_URL is set but PostgreSQL is unreachable: {err}", pytrace=False)
        return url
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


def fresh_database_url(database_template, tmp_path: Path) -> str:
    if ENGINE == "postgresql":
        engine = sa.create_engine(database_template)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return database_template
    path = tmp_path / "coop.sqlite3"
    if not Path(f"{database_template}-wal").exists():
        # The template is closed and whole (no write-ahead log left): a plain copy of the
        # file, without the backup's fsync, costs a fraction of a millisecond.
        shutil.copyfile(database_template, path)
        return f"sqlite:///{path}"
    src = sqlite3.connect(database_template)
    dst = sqlite3.connect(path)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{path}"


@pytest.fixture
def database_url(database_template, tmp_path) -> str:
    return fresh_database_url(database_template, tmp_path)


def _template_bytecode() -> FileSystemBytecodeCache:
    global _TEMPLATE_BYTECODE
    if _TEMPLATE_BYTECODE is None:
        import tempfile

        _TEMPLATE_BYTECODE = FileSystemBytecodeCache(tempfile.mkdtemp(prefix="coop-jinja-"))
    return _TEMPLATE_BYTECODE


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app on this test's database; keyword arguments override the config."""
    apps = []

    def factory(**overrides):
        config = {
            "COOP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "WTF_CSRF_ENABLED": False,
            "MAIL_OUTBOX": str(tmp_path / "outbox"),
            "SERVER_NAME": None,
        }
        config.update(overrides)
        application = create_app(config)
        application.jinja_env.bytecode_cache = _template_bytecode()
        apps.append(application)
        return application

    yield factory
    for application in apps:
        with application.app_context():
            _db.session.remove()
            _db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db(app):
    """The Flask-SQLAlchemy object inside an app context, for service tests."""
    with app.app_context():
        yield _db


@pytest.fixture
def make_user(app):
    """``make_user(role="staff", email=...)`` → a saved User (password ``PASSWORD``)."""
    from coop.accounts import services

    counter = iter(range(1, 10_000))

    def factory(role: str = "member", email: str | None = None, password: str = PASSWORD,
                name: str = ""):
        with app.app_context():
            user = services.create_user(
                _db.session, email or f"{role}{next(counter)}@example.org", password,
                role=role, name=name or f"Test {role.title()}",
            )
            _db.session.commit()
            _db.session.refresh(user)
            _db.session.expunge(user)
            return user

    return factory


def login(client, email: str, password: str = PASSWORD, **extra):
    return client.post("/login", data={"email": email, "password": password, **extra})


@pytest.fixture
def login_as(client, make_user):
    """``login_as("staff")`` creates a user with that role and logs the client in as them."""

    def do_login(role: str = "member", **kwargs):
        user = make_user(role, **kwargs)
        response = login(client, user.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return do_login


@pytest.fixture
def outbox(app):
    """``outbox()`` → the messages the app has 'sent' so far (development outbox)."""
    from coop.mail import outbox_messages

    return lambda: outbox_messages(app.config["MAIL_OUTBOX"])


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 (aiosmtpd); ``.messages`` holds what arrived.

    Faults on demand: ``.handler.reject`` (addresses answered ``550``), ``.handler.down``
    (every message answered ``421``: the server is there but not taking mail), and
    ``.handler.hold`` (a ``threading.Event``: when set by a test, each RCPT waits until it is
    cleared, as a server hanging mid-conversation).
    """
    import asyncio
    import threading
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.messages = []
            self.reject: set[str] = set()
            self.down = False
            self.hold = threading.Event()
            self.held = threading.Event()  # set once a conversation is being held

        async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
            while self.hold.is_set():
                self.held.set()
                await asyncio.sleep(0.05)
            if address.lower() in self.reject:
                return "550 5.1.1 No such mailbox here"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
            if self.down:
                return "421 4.3.2 Service not available, try again later"
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    controller.messages = handler.messages
    controller.handler = handler
    yield controller
    handler.hold.clear()
    controller.stop()


# -- the browser: Debian's Chromium through Playwright's sync API -----------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole test process, shared by tests/e2e and tests/quality.

    Playwright's sync API can run only once at a time in a process (a second
    ``sync_playwright()`` refuses: "using Playwright Sync API inside the asyncio loop"), so a
    browser of each package's own failed whenever one process ran both, as with ``-n 2``.
    Started on first use: a run without browser tests never launches it.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
