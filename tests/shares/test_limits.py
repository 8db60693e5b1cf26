"""Rate limits on the share and supporter forms: per email address (both forms together) with
a per-client ceiling, counted before saving, shared through Redis by several server
processes, and a 503 with the form kept when Redis is down."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from coop.extensions import db as _db
from coop.shares import ratelimit
from coop.shares.models import Enquiry
from tests.shares.conftest import share_form, support_form

#: this test worker's own Redis database (5, 6, …): the tests that use it empty it first, so
#: two xdist workers sharing one wiped each other's counts mid-test
REDIS_URL = ("redis://127.0.0.1:6379/"
             f"{5 + int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0').removeprefix('gw')) % 8}")


def count(app) -> int:
    with app.app_context():
        return _db.session.scalar(sa.select(sa.func.count(Enquiry.id)))


@pytest.fixture
def redis_db():
    import redis

    store = redis.Redis.from_url(REDIS_URL)
    store.ping()  # fails loudly if Redis is down: these tests must not pass without it
    store.flushdb()
    yield store
    store.flushdb()


def test_the_limit_is_per_email_address_across_both_forms(make_app):
    app = make_app(SHARES_RATE_LIMIT="3 per hour")
    client = app.test_client()
    assert client.post("/shares", data=share_form()).status_code == 302
    assert client.post("/support", data=support_form()).status_code == 302
    # The same address in another case and with spaces is the same address.
    assert client.post("/shares", data=share_form(email=" ZOE@example.org ")).status_code == 302
    refused = client.post("/support", data=support_form())
    assert refused.status_code == 429
    assert count(app) == 3
    # Another reader on the same wifi (same client address) is not stopped.
    assert client.post("/shares", data=share_form(email="neighbour@example.org")
                       ).status_code == 302
    # The same inbox from elsewhere is still stopped: the limit is the address's.
    other = app.test_client()
    response = other.post("/shares", data=share_form(),
                          environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 429
    assert count(app) == 4


def test_a_refused_form_keeps_what_was_typed_and_says_when_to_retry(make_app):
    app = make_app(SHARES_RATE_LIMIT="1 per hour")
    client = app.test_client()
    assert client.post("/shares", data=share_form()).status_code == 302
    response = client.post("/shares", data=share_form(name="Zoë Again",
                                                      address="9 Kept Street\nLeeds"))
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Too many enquiries" in html and 'role="alert"' in html
    assert 'value="Zoë Again"' in html and "9 Kept Street" in html
    assert "membership@example.org" in html  # whom to write to instead
    retry = int(response.headers["Retry-After"])
    assert 3500 < retry <= 3600
    assert client.get("/shares").status_code == 200  # reading the page is never limited


def test_the_per_client_ceiling_is_separate_and_generous(make_app):
    app = make_app(SHARES_CLIENT_RATE_LIMIT="4 per hour")
    assert make_app().config["SHARES_CLIENT_RATE_LIMIT"] == "60 per hour"
    client = app.test_client()
    for i in range(4):
        response = client.post("/shares", data=share_form(email=f"reader{i}@example.org"))
        assert response.status_code == 302
    response = client.post("/shares", data=share_form(email="reader9@example.org"))
    assert response.status_code == 429
    assert "from your network" in response.get_data(as_text=True)
    other = app.test_client()
    assert other.post("/shares", data=share_form(email="reader9@example.org"),
                      environ_overrides={"REMOTE_ADDR": "192.0.2.9"}).status_code == 302


def test_invalid_forms_do_not_count(make_app):
    app = make_app(SHARES_RATE_LIMIT="2 per hour")
    client = app.test_client()
    for _ in range(5):
        assert client.post("/shares", data=share_form(amount="0.5")).status_code == 422
    assert client.post("/shares", data=share_form()).status_code == 302
    assert client.post("/shares", data=share_form()).status_code == 302
    assert client.post("/shares", data=share_form()).status_code == 429


def test_a_post_refused_with_503_does_not_count(make_app, monkeypatch):
    from coop.shares import services

    app = make_app(SHARES_RATE_LIMIT="1 per hour")
    client = app.test_client()
    real_submit = services.submit

    def database_down(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT", {}, ConnectionError("server closed"))

    monkeypatch.setattr(services, "submit", database_down)
    for _ in range(3):
        response = client.post("/shares", data=share_form())
        assert response.status_code == 503
        assert response.headers["Retry-After"]
    monkeypatch.setattr(services, "submit", real_submit)
    assert client.post("/shares", data=share_form()).status_code == 302
    assert client.post("/shares", data=share_form()).status_code == 429


def test_a_post_the_service_refuses_does_not_count(make_app, monkeypatch):
    from coop.shares import services

    app = make_app(SHARES_RATE_LIMIT="1 per hour")
    client = app.test_client()
    real_submit = services.submit

    def refuse(*args, **kwargs):
        raise services.EnquiryError("Choose a country from the list.")

    monkeypatch.setattr(services, "submit", refuse)
    response = client.post("/shares", data=share_form())
    assert response.status_code == 422
    assert "Choose a country from the list." in response.get_data(as_text=True)
    monkeypatch.setattr(services, "submit", real_submit)
    assert client.post("/shares", data=share_form()).status_code == 302
    assert count(app) == 1


def test_retry_after_only_on_429_and_503(make_app):
    app = make_app(SHARES_RATE_LIMIT="1 per hour")
    client = app.test_client()
    responses = [client.get("/shares"), client.get("/support"),
                 client.post("/shares", data=share_form(email="bad")),
                 client.post("/shares", data=share_form()),
                 client.get("/shares/thank-you")]
    assert [r.status_code for r in responses] == [200, 200, 422, 302, 200]
    for response in responses:
        assert "Retry-After" not in response.headers, response.status_code
        assert not any(h.lower().startswith("x-ratelimit") for h, _v in response.headers.items())
    assert "Retry-After" in client.post("/support", data=support_form()).headers


def test_turning_limits_off_in_one_app_does_not_leak_into_the_next(make_app):
    off = make_app(RATELIMIT_ENABLED=False, SHARES_RATE_LIMIT="1 per hour")
    for _ in range(3):
        assert off.test_client().post("/shares", data=share_form()).status_code == 302
    app = make_app(SHARES_RATE_LIMIT="1 per hour")
    client = app.test_client()
    assert client.post("/shares", data=share_form()).status_code == 302
    assert client.post("/shares", data=share_form()).status_code == 429


def test_concurrent_posts_in_one_process_never_exceed_the_limit(make_app):
    app = make_app(SHARES_RATE_LIMIT="3 per hour")

    def post(_):
        return app.test_client().post("/shares", data=share_form()).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(post, range(12)))
    assert sorted(codes) == [302] * 3 + [429] * 9
    assert count(app) == 3


def test_redis_keeps_the_counts_for_every_app_server(make_app, redis_db):
    first = make_app(REDIS_URL=REDIS_URL, SHARES_RATE_LIMIT="2 per hour")
    assert isinstance(first.extensions[ratelimit.EXTENSION], ratelimit.RedisCounter)
    second = make_app(REDIS_URL=REDIS_URL, SHARES_RATE_LIMIT="2 per hour")
    assert first.test_client().post("/shares", data=share_form()).status_code == 302
    assert second.test_client().post("/support", data=support_form()).status_code == 302
    assert first.test_client().post("/shares", data=share_form()).status_code == 429
    assert second.test_client().post("/shares", data=share_form()).status_code == 429
    keys = [k.decode() for k in redis_db.keys("*")]
    assert keys and all(k.startswith("coop:share-enquiries:") for k in keys), keys
    assert not any("zoe" in k for k in keys)  # addresses are hashed, never stored


def test_a_redis_storage_uri_is_used_too(make_app, redis_db):
    app = make_app(RATELIMIT_STORAGE_URI=REDIS_URL)
    assert ratelimit.storage_url(app) == REDIS_URL


def test_with_redis_down_the_form_answers_503_keeps_the_text_and_saves_nothing(
        make_app, closed_port, outbox):
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{closed_port}/5")
    client = app.test_client()
    response = client.post("/shares", data=share_form(name="Kept Name"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(ratelimit.UNAVAILABLE_RETRY_AFTER)
    html = response.get_data(as_text=True)
    assert "Temporarily unavailable" in html and "nothing was sent or saved" in html
    assert 'value="Kept Name"' in html
    assert count(app) == 0 and outbox() == []
    assert client.get("/shares").status_code == 200  # the page itself still works


def test_worker_count_from_the_gunicorn_command_line():
    wc = ratelimit.worker_count
    assert wc(["gunicorn", "--workers", "2", "coop:create_app()"], {}) == 2
    assert wc(["gunicorn", "-w", "4"], {}) == 4
    assert wc(["gunicorn", "-w3"], {}) == 3
    assert wc(["gunicorn", "--workers=5"], {}) == 5
    assert wc(["gunicorn", "coop:create_app()"], {"GUNICORN_CMD_ARGS": "--workers 6"}) == 6
    assert wc(["gunicorn", "coop:create_app()"], {"WEB_CONCURRENCY": "3"}) == 3
    assert wc(["gunicorn", "coop:create_app()"], {}) == 1
    assert wc(["uwsgi", "--ini", "x"], {}) is None


def test_production_with_several_workers_and_no_redis_warns_at_start(make_app, monkeypatch,
                                                                      caplog):
    monkeypatch.setattr(sys, "argv", ["gunicorn", "--workers", "2", "coop:create_app()"])
    import secrets

    production = {"COOP_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
                  "BASE_URL": "https://paper.example"}
    with caplog.at_level(logging.WARNING, logger="coop.shares.ratelimit"):
        make_app(**production)
    [warning] = [r for r in caplog.records if r.name == "coop.shares.ratelimit"]
    assert "REDIS_URL is not set" in warning.getMessage() and "2 workers" in warning.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="coop.shares.ratelimit"):
        make_app(**production, REDIS_URL=REDIS_URL)
        monkeypatch.setattr(sys, "argv", ["gunicorn", "--workers", "1", "coop:create_app()"])
        make_app(**production)
    assert not [r for r in caplog.records if r.name == "coop.shares.ratelimit"]


# -- two real server processes sharing Redis ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def two_servers(database_url, tmp_path, redis_db):
    """Two gunicorn processes (one worker each) on one database, sharing Redis db 5."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COOP_", "FLASK_")) and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(COOP_ENV="testing", DATABASE_URL=database_url, REDIS_URL=REDIS_URL,
               COOP_WTF_CSRF_ENABLED="false", COOP_SHARES_RATE_LIMIT="3 per hour",
               COOP_INSTANCE_PATH=str(tmp_path / "instance"),
               COOP_MAIL_OUTBOX=str(tmp_path / "outbox"), COOP_PAGE_CACHE_SECONDS="0")
    servers = []
    log = tmp_path / "servers.log"
    try:
        with log.open("wb") as out:
            for _ in range(2):
                port = _free_port()
                process = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "8",
                     "--bind", f"127.0.0.1:{port}", "coop:create_app()"],
                    env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
                servers.append((f"http://127.0.0.1:{port}", process))
        for url, process in servers:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.read_text(errors="replace")[-3000:]
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.1)
        yield [url for url, _ in servers]
    finally:
        for _, process in servers:
            process.terminate()
        for _, process in servers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _post(url: str, data: dict) -> int:
    opener = urllib.request.build_opener(_NoRedirect())
    body = urllib.parse.urlencode(data).encode()
    try:
        with opener.open(urllib.request.Request(url, data=body), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.slow  # two real servers and sixteen threads
def test_sixteen_posts_at_once_over_two_servers_accept_exactly_the_limit(two_servers, app):
    jobs = [(two_servers[i % 2] + ("/shares" if i % 3 else "/support"),
             share_form() if i % 3 else support_form()) for i in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(lambda job: _post(*job), jobs))
    assert sorted(codes) == [302] * 3 + [429] * 13, codes
    assert count(app) == 3


def test_no_form_of_the_site_sends_retry_after_with_a_success(client):
    """Flask-Limiter adds Retry-After to every response of a limited view; only 429 and 503
    may carry it."""
    response = client.post("/newsletter", data={"email": "a@example.org", "topics": ["events"],
                                                "consent": "y"})
    assert response.status_code == 302
    assert "Retry-After" not in response.headers
    assert "X-RateLimit-Limit" in response.headers  # the limiter did run


def test_a_limit_that_is_not_a_rate_stops_the_app_at_start(make_app):
    from coop.config import ConfigError

    with pytest.raises(ConfigError, match="SHARES_CLIENT_RATE_LIMIT must be a rate"):
        make_app(SHARES_CLIENT_RATE_LIMIT="lots")
