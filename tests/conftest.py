"""Fixtures: an app on a fresh database per test (SQLite by default, PostgreSQL when
``DATABASE_URL`` is set), clients, users and a login helper.

The schema is built once per test session by running the Alembic migrations; each test
then gets a copy (SQLite) or freshly truncated tables (PostgreSQL).

Building an app costs ~110 ms (Werkzeug compiles a URL builder for each of ~140 rules), more
than most tests themselves: every test that asks for the default app (``app``, or
``make_app()`` without settings) gets the one app of its worker (:class:`SharedApp`), put
back as it was built before each test (likewise ``make_app.shared(**settings)``, one app per
worker for each set of settings). A test that passes settings to ``make_app`` gets an app of
its own, as does one marked ``own_app``.
"""

from __future__ import annotations

import copy
import gc
import os
import shutil
import sqlite3
from collections.abc import Iterator
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


#: each app's Jinja environment would compile every template it renders again (a third of a
#: quick test's time in a new app); the shared app and every app a test builds with its own
#: settings share Jinja's own bytecode cache, keyed by template name and source checksum, in a
#: folder per test session.
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


def _database_copy(folder: Path) -> Path:
    """Where a test's SQLite copy of the template lives in ``folder``."""
    return folder / "coop.sqlite3"


def _outbox(folder: Path) -> Path:
    """Where a test's development mail outbox lives in ``folder``."""
    return folder / "outbox"


def _empty_postgresql(url: str) -> None:
    """Every table's rows deleted and every sequence back at 1, as ``TRUNCATE … RESTART
    IDENTITY`` leaves them. DELETE, children first, because a test's tables hold a handful of
    rows: TRUNCATE gives each of the 31 tables new files, 0.5–0.8 s a test here against about
    10 ms, the larger part of the suite's time on PostgreSQL. TRUNCATE stays the fallback for
    rows DELETE can't remove in that order."""
    engine = sa.create_engine(url)
    tables = Base.metadata.sorted_tables
    names = ", ".join(f'"{t.name}"' for t in tables)
    try:
        with engine.begin() as conn:
            # as TRUNCATE did: wait for any write a stray thread or server of the last test
            # still has open, so none lands after the rows are gone (review)
            conn.execute(sa.text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))
            for table in reversed(tables):
                conn.execute(table.delete())
            conn.execute(sa.text(
                "SELECT setval(c.oid, 1, false) FROM pg_class c "
                "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"))
    except sa.exc.IntegrityError:
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


def fresh_database_url(database_template, folder: Path) -> str:
    """The template's schema with no rows: truncated (PostgreSQL), or copied to
    ``folder/coop.sqlite3`` (SQLite) over any copy an earlier test left there."""
    if ENGINE == "postgresql":
        _empty_postgresql(database_template)
        return database_template
    path = _database_copy(folder)
    # Unlinked, not overwritten: a connection an earlier test left open keeps the old file
    # (and its write-ahead log and shared-memory index) to itself.
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
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


@pytest.fixture(scope="session")
def worker_folder(tmp_path_factory) -> Path:
    """This worker's fixed folder for the database copy and the mail outbox, so the shared
    app's settings stay the same from test to test."""
    return tmp_path_factory.mktemp("worker")


@pytest.fixture
def database_url(database_template, worker_folder) -> str:
    return fresh_database_url(database_template, worker_folder)


@pytest.fixture
def mail_outbox(worker_folder) -> str:
    """The development outbox of every app in this test, emptied first."""
    folder = _outbox(worker_folder)
    shutil.rmtree(folder, ignore_errors=True)
    return str(folder)


def _template_bytecode() -> FileSystemBytecodeCache:
    global _TEMPLATE_BYTECODE
    if _TEMPLATE_BYTECODE is None:
        import tempfile

        _TEMPLATE_BYTECODE = FileSystemBytecodeCache(tempfile.mkdtemp(prefix="coop-jinja-"))
    return _TEMPLATE_BYTECODE


def _test_config(database_url: str, mail_outbox: str) -> dict:
    return {
        "COOP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "MAIL_OUTBOX": mail_outbox,
        "SERVER_NAME": None,
    }


def _build_app(config: dict):
    application = create_app(config)
    application.jinja_env.bytecode_cache = _template_bytecode()
    return application


def _without_empty(registry):
    """A registry as plain dicts without empty entries (Flask's are defaultdicts that looking
    up an error handler fills with empty ones)."""
    if isinstance(registry, dict):
        plain = {key: _without_empty(value) for key, value in registry.items()}
        return {key: value for key, value in plain.items() if value}
    return registry


class SharedApp:
    """The one default app of a worker, put back as it was built before each test that uses it.

    What a test may change is put back: the config (a deep copy of the one built), attributes
    set on the app, Jinja's globals, filters and tests, and every extension's state (see
    :meth:`_reset_extensions`). What can't be put back (a new route, a ``before_request``
    function) fails the test that did it; such a test marks itself ``own_app``.
    """

    #: the extensions the reset knows; a new one must be added here (and reset) or the
    #: shared app refuses to run, rather than let one test's state leak into the next
    EXTENSIONS = frozenset({
        "sqlalchemy", "migrate", "csrf", "limiter", "coop.hooks", "coop.outbox", "coop.cache",
        "coop.fund.tally", "coop.register", "shares_limits", "coop.url_if", "coop.urls",
    })
    #: the app's registries of functions and routes, compared after each test
    REGISTRIES = ("before_request_funcs", "after_request_funcs", "teardown_request_funcs",
                  "teardown_appcontext_funcs", "url_value_preprocessors",
                  "url_default_functions", "template_context_processors",
                  "shell_context_processors", "error_handler_spec", "view_functions",
                  "blueprints", "url_build_error_handlers")

    def __init__(self, database_url: str, mail_outbox: str, **settings):
        self.database_url, self.mail_outbox = database_url, mail_outbox
        self.app = _build_app({**_test_config(database_url, mail_outbox), **settings})
        self._check_extensions()
        app = self.app
        self.config = copy.deepcopy(dict(app.config))
        self.attributes = dict(vars(app))
        self.jinja = {name: dict(getattr(app.jinja_env, name))
                      for name in ("globals", "filters", "tests")}
        self.hooks = {name: list(funcs) for name, funcs in app.extensions["coop.hooks"].items()}
        #: the response cache layer in front of Flask holds this Store: it is cleared in place
        self.cache_store = app.extensions["coop.cache"]
        self.registries = self._registries()
        self.in_use = False

    def _check_extensions(self) -> None:
        unknown = set(self.app.extensions) - self.EXTENSIONS
        if unknown:
            raise RuntimeError(
                f"tests/conftest.py SharedApp doesn't know how to reset {sorted(unknown)}: add "
                "it to SharedApp.EXTENSIONS and _reset_extensions, so no test's state in it "
                "reaches the next test.")

    def _registries(self) -> dict:
        app = self.app
        found = {name: repr(_without_empty(getattr(app, name))) for name in self.REGISTRIES}
        found["url_map"] = repr(sorted(map(repr, app.url_map.iter_rules())))
        found["url_map.converters"] = repr(sorted(app.url_map.converters))
        found["cli.commands"] = repr(sorted(app.cli.commands))
        return found

    def use(self):
        """The app as built, on this test's fresh database and empty outbox (a second call in
        the same test returns it as the test left it)."""
        if not self.in_use:
            self.reset()
            self.in_use = True
        return self.app

    def reset(self) -> None:
        from coop.extensions import db

        self._check_extensions()
        app = self.app
        app.config.clear()
        app.config.update(copy.deepcopy(self.config))
        for name in set(vars(app)) - set(self.attributes):
            if not hasattr(type(app), name):  # cached properties are left to be reloaded
                delattr(app, name)
        for name, value in self.attributes.items():
            # Flask's own "a request was handled" flag stays as Flask set it: setup methods
            # (before_request, ...) on the shared app after a request must keep failing.
            if name != "_got_first_request" and vars(app).get(name) is not value:
                setattr(app, name, value)
        for name, saved in self.jinja.items():
            current = getattr(app.jinja_env, name)
            current.clear()
            current.update(saved)
        self._reset_extensions()
        with app.app_context():
            db.session.remove()

    def _reset_extensions(self) -> None:
        """Each extension's per-app state as a new app has it, by the feature's own code
        where it has an ``init_app`` that can run again."""
        from coop import outbox, tasks
        from coop.extensions import limiter
        from coop.fund.tally import TallyKeeper
        from coop.register import read_rules
        from coop.shares import ratelimit

        app = self.app
        # "sqlalchemy": the engine is disposed after each test (close); "migrate" and "csrf"
        # hold no state of their own.
        # Flask-Limiter's one Limiter reads again whether limits are on and where counts are
        # kept: fresh memory storage, no counts from earlier tests. (Its other RATELIMIT_*
        # settings stay as the first app set them; no test changes them on a shared app.)
        limiter.init_app(app)
        hooks = app.extensions["coop.hooks"]
        hooks.clear()
        hooks.update({name: list(funcs) for name, funcs in self.hooks.items()})
        # delivery straight after the commit, then through the queue (Huey is module-global:
        # an app built since points it at its own storage)
        outbox.init_app(app)
        tasks.init_app(app)
        # the same Store object: the response cache layer in front of Flask holds it
        app.extensions["coop.cache"] = self.cache_store
        app.extensions["coop.cache"].__init__(float(app.config["CACHE_SECONDS"]),
                                              int(app.config["CACHE_MAX_ENTRIES"]))
        app.extensions["coop.fund.tally"] = TallyKeeper()
        app.extensions["coop.register"] = read_rules(app.config)
        ratelimit.init_app(app)
        app.extensions.pop("coop.url_if", None)  # links url_if has built, made on first use
        app.extensions.pop("coop.urls", None)  # external_url's adapters, made on first use

    def close(self) -> None:
        """End the test: no connection left open, and nothing changed that reset can't undo."""
        from coop.extensions import db

        if not self.in_use:
            return
        self.in_use = False
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        changed = [name for name, seen in self._registries().items()
                   if seen != self.registries[name]]
        if changed:
            raise AssertionError(
                f"this test changed the shared app's {', '.join(changed)}, which the reset "
                "can't put back: use make_app(...) with a setting, or mark the test "
                "@pytest.mark.own_app")


@pytest.fixture(scope="session")
def shared_apps(database_template, worker_folder) -> dict[str, SharedApp]:
    """This worker's shared apps (:class:`SharedApp`) by their settings, each built on
    first use; ``database_url`` and ``mail_outbox`` make their database and outbox fresh for
    each test."""
    return {}


def _shared(shared_apps, database_template, worker_folder, **settings) -> SharedApp:
    key = repr(sorted(settings.items()))
    if key not in shared_apps:
        url = (database_template if ENGINE == "postgresql"
               else f"sqlite:///{_database_copy(worker_folder)}")
        shared_apps[key] = SharedApp(url, str(_outbox(worker_folder)), **settings)
    return shared_apps[key]


@pytest.fixture(scope="session")
def shared_app(shared_apps, database_template, worker_folder) -> Iterator[SharedApp]:
    """This worker's default app (what ``app`` and ``make_app()`` return)."""
    shared = _shared(shared_apps, database_template, worker_folder)
    # What lives all session (modules, this app, its URL map and templates) is left out of
    # the garbage collector's full passes, which are also made rarer: collecting had been
    # a tenth of the run's CPU.
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    yield shared
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.fixture
def make_app(request, database_url, mail_outbox, shared_app, shared_apps, database_template,
             worker_folder):
    """Build an app on this test's database; keyword arguments override the config.

    Without them the app is the worker's shared one (unless the test is marked ``own_app``).
    ``make_app.shared(**settings)`` is the worker's shared app with those settings, for a
    folder whose tests all use the same ones (tests/payments: Stripe pointed at the stand-in).
    """
    apps = []
    own = request.node.get_closest_marker("own_app") is not None

    def factory(**overrides):
        if not overrides and not own:
            return use(shared_app)
        config = _test_config(database_url, mail_outbox)
        config.update(overrides)
        application = _build_app(config)
        apps.append(application)
        return application

    def shared(**settings):
        if own:
            return factory(**settings)
        return use(_shared(shared_apps, database_template, worker_folder, **settings))

    def use(shared: SharedApp):
        assert (shared.database_url, shared.mail_outbox) == (database_url, mail_outbox)
        return shared.use()

    factory.shared = shared
    yield factory
    for application in apps:
        with application.app_context():
            _db.session.remove()
            _db.engine.dispose()
    for shared in shared_apps.values():
        shared.close()


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


def remembered_client(app, email: str):
    """A browser that kept only the remember-me cookie of a login (it was closed, its session
    cookie gone): logged in again at its first request, but not freshly."""
    first = app.test_client()
    assert login(first, email, remember="y").status_code == 302
    client = app.test_client()
    client.set_cookie("remember_token", first.get_cookie("remember_token").value)
    return client


def delete_my_account(client):
    """ "Delete my account" as a logged-in client sends it: the password and the tick."""
    return client.post("/account/delete", data={"delete_password": PASSWORD,
                                                "understood": "y"})


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
