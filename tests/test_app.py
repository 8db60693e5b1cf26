"""The factory, configuration, error pages, health check and the database-down behaviour."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coop import ROOT, create_app
from coop.config import ConfigError
from tests.conftest import ENGINE, PRODUCTION, login


def test_templates_come_from_the_top_level_folder(app):
    assert Path(app.template_folder) == ROOT / "templates"
    assert app.jinja_env.get_template("base.html").filename == str(ROOT / "templates" / "base.html")


def test_testing_config(app):
    assert app.config["TESTING"] is True
    assert app.config["COOP_ENV"] == "testing"


def test_production_refuses_to_start_without_secret_key(monkeypatch, database_url):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("COOP_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app({"COOP_ENV": "production", "SQLALCHEMY_DATABASE_URI": database_url})


@pytest.mark.parametrize("key", ["dev", "changeme", "short-but-not-default", "x" * 31])
def test_production_refuses_weak_secret_key(key, database_url):
    with pytest.raises(ConfigError, match="too weak"):
        create_app({"COOP_ENV": "production", "SECRET_KEY": key,
                    "SQLALCHEMY_DATABASE_URI": database_url})


def test_production_start_without_secret_exits_non_zero_with_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "COOP_SECRET_KEY")}
    env.update(COOP_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "coop", "routes"],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_debug_mode(database_url):
    with pytest.raises(ConfigError, match="Debug mode is never allowed"):
        create_app({**PRODUCTION, "DEBUG": True,
                    "SQLALCHEMY_DATABASE_URI": database_url})


def test_production_settings(database_url):
    app = create_app({**PRODUCTION,
                      "SQLALCHEMY_DATABASE_URI": database_url})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-session"
    assert app.config["REMEMBER_COOKIE_NAME"] == "__Host-remember"
    assert app.debug is False
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    with app.app_context():
        from coop.extensions import db

        db.engine.dispose()


def test_development_generates_and_keeps_a_secret_key(tmp_path, database_url, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("COOP_SECRET_KEY", raising=False)
    monkeypatch.setenv("COOP_INSTANCE_PATH", str(tmp_path / "instance"))
    first = create_app({"COOP_ENV": "development", "SQLALCHEMY_DATABASE_URI": database_url})
    second = create_app({"COOP_ENV": "development", "SQLALCHEMY_DATABASE_URI": database_url})
    assert len(first.config["SECRET_KEY"]) >= 32
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert (tmp_path / "instance" / "secret_key").exists()


def test_database_url_from_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    app = create_app({"COOP_ENV": "testing"})
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_connection_settings(db):
    if ENGINE == "postgresql":
        assert db.engine.dialect.driver == "psycopg"
        return
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "queue": "ok"}


def test_home_page(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="en-GB">' in html
    assert 'href="#main">Skip to main content</a>' in html
    assert '<main id="main"' in html


@pytest.mark.parametrize("path,code", [("/no-such-page", 404), ("/logout", 405)])
def test_error_pages_use_the_layout(client, path, code):
    response = client.put(path) if code == 405 else client.get(path)
    assert response.status_code == code
    html = response.get_data(as_text=True)
    assert "Skip to main content" in html
    assert f"Error {code}" in html


def test_api_errors_are_json(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["error"] == "Page not found"


def test_500_page_rolls_back_and_uses_layout(make_app):
    app = make_app(TESTING=False, PROPAGATE_EXCEPTIONS=False)

    @app.route("/boom")
    def boom():
        raise RuntimeError("kaboom")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong" in html
    assert "kaboom" not in html and "Traceback" not in html


def test_an_error_page_leaves_who_is_logged_in_and_how_freshly_alone(make_app, make_user):
    """Review: on an error page the user loader answered None, so Flask-Login went on to the
    remember-me cookie: a browser whose cookie held another account's login switched to it,
    and a staff login lost its freshness."""
    from tests.conftest import login

    app = make_app(TESTING=False, PROPAGATE_EXCEPTIONS=False)

    @app.route("/boom")
    def boom():
        raise RuntimeError("kaboom")

    ann = make_user("member", email="ann@example.org", name="Ann Earlier")
    bea = make_user("staff", email="bea@example.org", name="Bea Later")
    client = app.test_client()
    assert login(client, ann.email, remember="y").status_code == 302
    assert login(client, bea.email).status_code == 302  # Ann's remember-me cookie stays
    assert client.get("/boom").status_code == 500
    page = client.get("/account").get_data(as_text=True)
    assert "bea@example.org" in page and "ann@example.org" not in page
    assert client.get("/staff/enquiries").status_code == 200  # still a fresh login
    # and Bea's login, without "keep me logged in", ended Ann's cookie: closing the
    # browser doesn't bring Ann back
    assert client.get_cookie("remember_token") is None


def test_body_over_limit_gets_413_page(client):
    response = client.post("/login", data={"email": "a@b.c", "password": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "larger than this site accepts" in response.get_data(as_text=True)


def test_csrf_missing_token_is_refused(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    response = app.test_client().post("/login", data={"email": "a@example.org", "password": "x"})
    assert response.status_code == 400
    assert "come from this site" in response.get_data(as_text=True)


def test_csrf_with_token_is_accepted(make_app, make_user):
    import re

    app = make_app(WTF_CSRF_ENABLED=True)
    user = make_user("member")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = login(client, user.email, csrf_token=token)
    assert response.status_code == 302


def test_security_headers_on_pages(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in response.headers  # only in production


def _unreachable_database(tmp_path, database_template):
    """A database URL that fails to connect, and a function that brings it back."""
    if ENGINE == "sqlite":
        folder = tmp_path / "not-yet"
        url = f"sqlite:///{folder}/coop.sqlite3"

        def restore():
            folder.mkdir()
            shutil.copy(database_template, folder / "coop.sqlite3")

        return url, restore
    import sqlalchemy as sa

    from tests.tcp_proxy import TcpProxy

    target = sa.make_url(database_template)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    url = target.set(port=proxy.port).render_as_string(hide_password=False)
    return url, proxy.start


def test_database_down_gives_503_and_recovers_without_restart(
    make_app, tmp_path, database_template, database_url
):
    url, restore = _unreachable_database(tmp_path, database_template)
    app = make_app(SQLALCHEMY_DATABASE_URI=url, TESTING=False)
    client = app.test_client()

    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"status": "degraded", "database": "unavailable"}
    page = client.post("/login", data={"email": "someone@example.org", "password": "x" * 12})
    assert page.status_code == 503
    html = page.get_data(as_text=True)
    assert "reach its database" in html
    assert "Traceback" not in html and "OperationalError" not in html

    restore()
    assert client.get("/healthz").status_code == 200
    assert client.post("/login", data={"email": "someone@example.org",
                                       "password": "x" * 12}).status_code == 200


@pytest.mark.parametrize("path, page", [
    ("/events/some-event/register", "/events/some-event"),
    ("/account/email", "/account"),
    ("/account/register/address", "/account"),
    ("/logout", "/"),
])
def test_a_form_only_address_opened_again_leads_to_its_page(client, path, page):
    """QA: after a refused post the address bar shows where the form went (…/register#errors);
    opened again (a bookmark, history) it was a 405 dead end. A GET leads to the form's page
    and does nothing else; the JSON API keeps its 405."""
    response = client.get(path)
    assert response.status_code == 303 and response.headers["Location"] == page
    assert client.get("/api/fund/entries").status_code != 303  # the API answers for itself
    broken = client.get("/events/a%0Ab/register")  # review: a line break made it a 500
    assert broken.status_code == 405 and "Location" not in broken.headers


def test_the_lead_from_a_form_only_address_never_leaves_the_site(app):
    from coop.errors import _form_page_for

    with app.test_request_context():
        assert _form_page_for("/events/x/register") == "/events/x"
        assert _form_page_for("//evil.example/events/x/register") is None
        assert _form_page_for("/events/a\nb/register") is None
        assert _form_page_for("/api/fund/entries") is None



def test_an_install_without_the_templates_refuses_to_start(monkeypatch, tmp_path):
    """``pip install .`` copies the package without templates/: the worker imported that copy
    and failed every email's task with TemplateNotFound (README check). It says so at once."""
    import coop

    monkeypatch.setattr(coop, "ROOT", tmp_path)
    with pytest.raises(RuntimeError, match=r"pip install -e \."):
        coop.create_app({"TESTING": True})
