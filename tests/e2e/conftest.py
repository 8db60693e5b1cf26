"""End-to-end fixtures: the app served by ``make run`` on 127.0.0.1, and one headless Chromium.

The server gets its own instance folder (SQLite database, outbox, secret key) or, when
``DATABASE_URL`` is set, its own PostgreSQL database ``<name>_e2e`` with a fresh schema, so it
never shares data with the rest of the suite. It runs in development mode, so ``make run``
loads the demo data and the demo accounts from seeds/ exactly as a newcomer would see them.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from coop import ROOT
from coop.db import normalise_database_url

ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: how long ``make run`` (migrate, seed, serve) may take to answer /healthz
STARTUP_SECONDS = 90

#: the demo accounts that ``make run`` creates from seeds/accounts.toml
DEMO = {
    "admin": ("admin@example.org", "admin-demo-password"),
    "staff": ("staff@example.org", "staff-demo-password"),
    "member": ("member@example.org", "member-demo-password"),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _worker_suffix() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"_{worker}" if worker else ""


def e2e_database_url(url: str, name: str = "") -> str:
    """``…/test`` → ``…/test_e2e`` (created if missing, its schema emptied)."""
    base = sa.make_url(normalise_database_url(url))
    target = base.set(database=f"{base.database}_e2e{name}{_worker_suffix()}")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                 {"n": target.database})
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()
    engine = sa.create_engine(target)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return target.render_as_string(hide_password=False)


@dataclass
class LiveServer:
    url: str
    instance: Path
    process: subprocess.Popen
    log: Path

    def outbox(self) -> list[email.message.EmailMessage]:
        """The messages the app has written to <instance>/outbox/, oldest first."""
        folder = self.instance / "outbox"
        if not folder.exists():
            return []
        paths = sorted(folder.glob("*.eml"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in paths]

    def mail_to(self, address: str, subject_contains: str = "") -> email.message.EmailMessage:
        """The latest message to ``address`` (whose subject contains the text), waiting briefly."""
        deadline = time.monotonic() + 10
        while True:
            found = [m for m in self.outbox()
                     if address.lower() in str(m["To"]).lower()
                     and subject_contains.lower() in str(m["Subject"]).lower()]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                subjects = [(str(m["To"]), str(m["Subject"])) for m in self.outbox()]
                raise AssertionError(f"no mail to {address} about {subject_contains!r}; "
                                     f"outbox has {subjects}")
            time.sleep(0.05)

    def links_in(self, message: email.message.EmailMessage) -> list[str]:
        part = message.get_body(preferencelist=("plain", "html"))
        text = part.get_content() if part is not None else ""
        return re.findall(r"https?://[^\s<>\"')\]]+", text)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="package")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """``make run`` on a free port, waited for by polling /healthz, stopped at the end."""
    with run_server(tmp_path_factory) as server:
        yield server


@contextlib.contextmanager
def run_server(tmp_path_factory, name: str = "", **extra_env: str) -> Iterator[LiveServer]:
    """``make run`` with its own instance folder (and PostgreSQL database ``…_e2e<name>``),
    plus ``extra_env`` (e.g. ``COOP_STRIPE_SECRET_KEY``)."""
    instance = tmp_path_factory.mktemp(f"e2e-instance{name}")
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COOP_", "FLASK_")) and k not in ("DATABASE_URL", "SECRET_KEY")}
    env.update(COOP_INSTANCE_PATH=str(instance), COOP_ENV="development", PORT=str(port),
               COOP_BASE_URL=f"http://127.0.0.1:{port}", PYTHONUNBUFFERED="1")
    env.update(extra_env)
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = e2e_database_url(os.environ["DATABASE_URL"], name)
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"e2e-server{name}{_worker_suffix()}.log"
    # `-o .venv/.installed`: the venv is already installed (make test did it), never redo it here.
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "run", f"PORT={port}"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    server = LiveServer(url=url, instance=instance, process=process, log=log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"`make run` exited with {process.returncode}:\n"
                            + log.read_text(errors="replace")[-4000:], pytrace=False)
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`make run` did not answer /healthz within {STARTUP_SECONDS}s:\n"
                            + log.read_text(errors="replace")[-4000:], pytrace=False)
            time.sleep(0.1)
        yield server
    finally:
        _stop(process)


# ``browser`` is the one Chromium of the test process (tests/conftest.py).


@pytest.fixture
def new_context(browser, live_server):
    """``new_context(phone=False)`` → a fresh browser profile (no cookies) on the live server."""
    contexts = []

    def factory(*, phone: bool = False, **kwargs):
        options = {"base_url": live_server.url, "viewport": PHONE if phone else DESKTOP,
                   "locale": "en-GB", "timezone_id": "Europe/London", "accept_downloads": True}
        if phone:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        options.update(kwargs)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context):
    """A desktop page in a fresh profile."""
    return new_context().new_page()


@pytest.fixture
def other_site():
    """``other_site(html)`` → the URL of a page on another origin (its own 127.0.0.1 port)
    that serves ``html``: an article page of another site, embedding ours."""
    import http.server
    import threading

    pages: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def publish(html: str, path: str = "/article.html") -> str:
        pages[path] = html.encode()
        return f"http://127.0.0.1:{server.server_address[1]}{path}"

    yield publish
    server.shutdown()
    server.server_close()


def screenshot(page, name: str) -> None:
    """Save the page at desktop and phone widths in test-artifacts/screenshots/: the whole
    page as <name>-desktop.png and <name>-phone.png, and the first screenful as
    <name>-desktop-top.png and <name>-phone-top.png (the README's pictures come from these)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}-top.png"), scale="css",
                        full_page=True, clip={"x": 0, "y": 0, **size})
    if original:
        page.set_viewport_size(original)


def log_in(page, role: str = "member", *, remember: bool = False) -> None:
    """Log in through the form as the demo account for ``role``."""
    address, password = DEMO[role]
    page.goto("/login")
    form = page.get_by_role("main")
    form.get_by_label("Email", exact=True).fill(address)
    form.get_by_label("Password", exact=True).fill(password)
    if remember:
        form.get_by_label(re.compile("keep me logged in", re.I)).check()
    form.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda u: "/login" not in u)
