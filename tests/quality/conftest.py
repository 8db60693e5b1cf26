"""One seeded database, one app and one logged-in client per role for all the quality checks.

The demo data is loaded by the real ``flask seed`` command (with ``DEMO_ACCOUNTS=True``) into a
database of its own, so the per-test databases of the rest of the suite are untouched.
"""

from __future__ import annotations

import atexit
import functools
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from coop import create_app
from coop.extensions import db as _db
from tests.conftest import ENGINE, _migrate, _worker_suffix
from tests.quality import pages as inventory


def seeded_database(database_template, folder: Path, name: str) -> str:
    """A migrated database of its own, called ``name``, with the demo data loaded."""
    if ENGINE == "postgresql":
        base = sa.make_url(database_template)
        dbname = f"{base.database}_{name}{_worker_suffix()}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
            ), {"n": dbname})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
        admin.dispose()
        url = base.set(database=dbname).render_as_string(hide_password=False)
        _migrate(url)
    else:
        path = folder / f"{name}.sqlite3"
        src = sqlite3.connect(database_template)
        dst = sqlite3.connect(path)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        url = f"sqlite:///{path}"
    app = quality_app(url, folder)
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    with app.app_context():
        _db.engine.dispose()
    return url


def quality_app(url: str, folder: Path, **overrides):
    config = {
        "COOP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": url,
        "DEMO_ACCOUNTS": True,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        # a 500 must show as a 500 response here, not stop the whole inventory
        "TESTING": False,
        "PROPAGATE_EXCEPTIONS": False,
        "MAIL_OUTBOX": str(folder / "outbox"),
        "SERVER_NAME": None,
        # online payments on, against a local stand-in for Stripe's API (tests/payments)
        **stripe_settings(),
    }
    config.update(overrides)
    return create_app(config)


@functools.cache
def stripe_settings() -> dict:
    from tests.payments.conftest import SECRET_KEY, WEBHOOK_SECRET, StripeStandIn

    stand_in = StripeStandIn().start()
    atexit.register(stand_in.stop)
    return {"STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": stand_in.url, "STRIPE_MAX_NETWORK_RETRIES": 0}


def logged_in_client(app, role: str):
    client = app.test_client()
    if role != "anonymous":
        email, password = inventory.DEMO[role]
        response = client.post("/login", data={"email": email, "password": password})
        assert response.status_code == 302, f"demo {role} could not log in"
    return client


@dataclass
class Rendered:
    page: inventory.Page
    status: int = 0
    content_type: str = ""
    body: str = ""
    headers: dict | None = None
    location: str = ""

    @property
    def is_html(self) -> bool:
        return self.content_type.startswith("text/html")


#: the session fixtures that seed a database and fetch every page (about 5 s of CPU)
SEEDED = {"seeded_url", "site", "clients", "rendered", "saved_pages"}


def pytest_collection_modifyitems(items):
    """Every test that needs the seeded site is grouped on one xdist worker, so that with
    ``--dist loadgroup`` (make test-fast) one worker seeds and walks the site, not each."""
    for item in items:
        if SEEDED & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("seeded-site"))


@pytest.fixture(scope="session")
def seeded_url(database_template, tmp_path_factory):
    return seeded_database(database_template, tmp_path_factory.mktemp("quality"), "quality")


@pytest.fixture(scope="session")
def site(seeded_url, tmp_path_factory):
    app = quality_app(seeded_url, tmp_path_factory.mktemp("quality-app"))
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture(scope="session")
def clients(site):
    return {role: logged_in_client(site, role)
            for role in ("anonymous", "member", "staff", "admin")}


@pytest.fixture(scope="session")
def rendered(site, clients, tmp_path_factory) -> dict[str, Rendered]:
    """Every inventory page fetched once: GET pages first, then the forms posted empty."""
    with site.app_context():
        pages = inventory.build(site, _db.session)
        _db.session.remove()
    out: dict[str, Rendered] = {}
    for page in sorted(pages, key=lambda p: p.method != "GET"):
        item = Rendered(page)
        out[page.key] = item
        if page.reason:
            continue
        client = clients[page.role]
        response = client.open(page.url, method=page.method, data=page.data)
        item.status = response.status_code
        item.content_type = response.content_type or ""
        # binary downloads (share certificates as PDF) still get their headers checked
        item.body = response.get_data().decode("utf-8", errors="replace")
        item.headers = dict(response.headers)
        item.location = response.headers.get("Location", "")
        response.close()
    return out


@pytest.fixture(scope="session")
def saved_pages(rendered, tmp_path_factory) -> Path:
    """The HTML pages written to a folder, one file per page key (for the Nu checker)."""
    folder = tmp_path_factory.mktemp("pages")
    for key, item in rendered.items():
        if item.is_html and item.body:
            (folder / f"{key}.html").write_text(item.body, encoding="utf-8")
    return folder


# -- the browser: the seeded app served from a thread for the one Chromium (tests/conftest.py) --

def read_whole(app):
    """``app`` with each response body read whole (and closed) before Werkzeug writes it: when
    the browser drops a request half-way (a favicon on a page it left), Werkzeug's server
    doesn't close the body, and an open static file's ResourceWarning (an error here) failed
    whichever browser test was running."""

    def wrapped(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wrapped


@pytest.fixture(scope="session")
def live_url(site):
    server = make_server("127.0.0.1", 0, read_whole(site), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="session")
def browser_pages(browser, live_url):
    """One logged-in tab per role; logging in is done through the login form, by its labels."""
    tabs = {}
    contexts = []
    for role in ("anonymous", "member", "staff", "admin"):
        context = browser.new_context(base_url=live_url)
        context.set_default_timeout(10_000)  # a missing element fails fast, not after 30 s
        contexts.append(context)
        tab = context.new_page()
        if role != "anonymous":
            email, password = inventory.DEMO[role]
            tab.goto("/login")
            form = tab.locator("main")
            form.get_by_label("Email", exact=True).fill(email)
            form.get_by_label("Password", exact=True).fill(password)
            form.get_by_role("button", name="Log in").click()
            tab.wait_for_load_state()
            assert "/login" not in tab.url, f"demo {role} could not log in in the browser"
        tabs[role] = tab
    yield tabs
    for context in contexts:
        context.close()
