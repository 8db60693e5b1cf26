"""Links that leave the site can't be redirected: every email built during a request carries
links on BASE_URL whatever ``Host`` or ``X-Forwarded-Host`` the request had; production
refuses other hosts (400), ProxyFix never trusts ``X-Forwarded-Host``, and production will
not start without an https BASE_URL or with a low-entropy SECRET_KEY."""

from __future__ import annotations

import re

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

from coop import create_app
from coop.config import ConfigError
from coop.extensions import db as _db
from tests.conftest import PASSWORD, PRODUCTION
from tests.events.conftest import make_event  # noqa: F401 - the fixture
from tests.shares.conftest import share_form

EVIL = "evil.example"
BASE = "http://127.0.0.1:5000"


def attacks():
    """(name, app settings, request keyword arguments) for each way of naming another host."""
    return [
        pytest.param({}, {"base_url": f"http://{EVIL}"}, id="Host"),
        pytest.param({"PROXY_FIX": 1},
                     {"headers": {"X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https",
                                  "X-Forwarded-Port": "8443"}},
                     id="X-Forwarded-Host"),
        pytest.param({"PROXY_FIX": 1},
                     {"base_url": f"http://{EVIL}",
                      "headers": {"X-Forwarded-Host": f"www.{EVIL}"}},
                     id="both"),
    ]


def assert_links_on_base(messages, expected: int):
    assert len(messages) == expected, [m["Subject"] for m in messages]
    for message in messages:
        raw = bytes(message).decode("utf-8", "replace")
        assert EVIL not in raw, message["Subject"]
        links = re.findall(r"https?://[^\s<>\"]+", message.get_body(("plain",)).get_content())
        assert links, message["Subject"]
        assert all(link.startswith(BASE) for link in links if "example.org" not in link), links


@pytest.mark.parametrize(("settings", "attack"), attacks())
def test_registration_and_waiting_list_emails(make_app, make_event, settings, attack):  # noqa: F811
    app = make_app(**settings)
    client = app.test_client()
    event = make_event("Small room", capacity=1)
    url = f"/events/{event.slug}/register"
    client.post(url, data={"name": "Attacker", "email": "attacker@example.org"}, **attack)
    client.post(url, data={"name": "Next", "email": "next@example.org"}, **attack)
    # the address again: the owner's reminder email
    client.post(url, data={"name": "X", "email": "next@example.org"}, **attack)
    from coop.mail import outbox_messages

    messages = outbox_messages(app.config["MAIL_OUTBOX"])
    assert_links_on_base(messages, 3)
    # the attacker cancels their own place through a request naming another host: the email
    # that moves the next person up must still point at the real site
    link = re.search(r"cancel this registration: \S+?(/events/registration/\S+)",
                     messages[0].get_body(("plain",)).get_content())[1]
    assert client.post(f"{link}/cancel", **attack).status_code == 302
    messages = outbox_messages(app.config["MAIL_OUTBOX"])
    assert messages[-1]["Subject"] == "A place for you: Small room"
    # and the attacker's own confirmation of the cancellation, with its link, as well
    assert messages[-2]["Subject"] == "Your registration is cancelled: Small room"
    assert_links_on_base(messages, 5)


@pytest.mark.parametrize(("settings", "attack"), attacks())
def test_newsletter_and_share_emails(make_app, settings, attack):
    app = make_app(**settings)
    client = app.test_client()
    signup = {"email": "reader@example.org", "name": "Ann", "topics": ["events"],
              "consent": "y", "source": "page"}
    assert client.post("/newsletter", data=signup, **attack).status_code in (200, 302, 303)
    assert client.post("/shares", data=share_form(newsletter_opt_in="y"),
                       **attack).status_code == 302
    from coop.mail import outbox_messages

    messages = outbox_messages(app.config["MAIL_OUTBOX"])
    subjects = " | ".join(m["Subject"] for m in messages)
    assert "reference" in subjects  # the share acknowledgement is among them
    assert_links_on_base(messages, len(messages))
    assert len(messages) >= 2


@pytest.mark.parametrize(("settings", "attack"), attacks())
def test_account_email_change_emails(make_app, make_user, settings, attack):
    app = make_app(**settings)
    client = app.test_client()
    user = make_user("member")
    # logged in through the same host (the session cookie belongs to it)
    assert client.post("/login", data={"email": user.email, "password": PASSWORD},
                       **attack).status_code == 302
    response = client.post("/account/email", data={"new_email": "moved@example.org",
                                                   "email_password": PASSWORD}, **attack)
    assert response.status_code == 302
    from coop.mail import outbox_messages

    [message] = outbox_messages(app.config["MAIL_OUTBOX"])
    assert_links_on_base([message], 1)
    path = re.search(r"https?://\S+?(/account/email/confirm/\S+)", message.get_content())[1]
    assert client.post(path, **attack).status_code == 302
    messages = outbox_messages(app.config["MAIL_OUTBOX"])
    assert len(messages) == 2 and all(EVIL not in bytes(m).decode() for m in messages)


# --- production: only the base URL's host ------------------------------------------------


@pytest.fixture
def production(database_url, tmp_path):
    apps = []

    def factory(**overrides):
        app = create_app({**PRODUCTION, "SQLALCHEMY_DATABASE_URI": database_url,
                          "BASE_URL": "https://coop.example.org", "RATELIMIT_ENABLED": False,
                          "MAIL_OUTBOX": str(tmp_path / "outbox"), **overrides})
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()


def test_production_answers_only_for_the_base_urls_host(production):
    app = production()
    assert app.config["TRUSTED_HOSTS"] == ["coop.example.org"]
    client = app.test_client()
    good = "https://coop.example.org"
    for path in ("/", "/events", "/api/fund", "/healthz"):
        assert client.get(path, base_url=good).status_code in (200, 404), path
        for _ in range(2):  # the second time too: no kept copy is served to another host
            assert client.get(path, base_url=f"https://{EVIL}").status_code == 400, path
    assert client.post("/newsletter", base_url=f"https://{EVIL}",
                       data={"email": "a@example.org"}).status_code == 400
    assert client.get("/", base_url="https://coop.example.org:8443").status_code == 200


def test_extra_trusted_hosts(production):
    app = production(EXTRA_TRUSTED_HOSTS="internal.lan 10.0.0.5")
    assert app.config["TRUSTED_HOSTS"] == ["coop.example.org", "internal.lan", "10.0.0.5"]
    client = app.test_client()
    assert client.get("/healthz", base_url="http://10.0.0.5").status_code == 200
    assert client.get("/healthz", base_url=f"http://{EVIL}").status_code == 400


def test_behind_a_proxy_x_forwarded_host_is_never_trusted(production):
    """With PROXY_FIX the client address and scheme come from the proxy, the host doesn't."""
    app = production(PROXY_FIX=1)
    client = app.test_client()
    response = client.get("/healthz", base_url="http://coop.example.org",
                          headers={"X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https"})
    assert response.status_code == 200  # had it been trusted, the host check would say 400
    layer, seen = app.wsgi_app, {}
    while not isinstance(layer, ProxyFix):
        layer = layer.wsgi_app
    inner = layer.app
    layer.app = lambda environ, start_response: seen.update(environ) or inner(environ,
                                                                              start_response)
    client.get("/healthz", base_url="http://coop.example.org",
               headers={"X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https",
                        "X-Forwarded-For": "203.0.113.9"}).close()
    assert seen["HTTP_HOST"] == "coop.example.org"
    assert seen["wsgi.url_scheme"] == "https" and seen["REMOTE_ADDR"] == "203.0.113.9"


@pytest.mark.parametrize("base", [None, "", "http://coop.example.org", "coop.example.org",
                                  "https://", "https://coop.example.org/?next=x",
                                  "https://user:pw@coop.example.org", "https://coop.example.org:x",
                                  "/relative"])
def test_production_refuses_to_start_without_an_https_base_url(database_url, base):
    config = {**PRODUCTION, "SQLALCHEMY_DATABASE_URI": database_url}
    if base is None:
        config.pop("BASE_URL")  # the development default, http://127.0.0.1:5000
    else:
        config["BASE_URL"] = base
    with pytest.raises(ConfigError, match="COOP_BASE_URL must be set in production"):
        create_app(config)


@pytest.mark.parametrize("key", ["a" * 32, "ab" * 20, "abcd" * 16, "0123456789" * 4,
                                 "correct horse battery staple!!!!", "x" * 100 + "abcdefgh"])
def test_production_refuses_a_secret_key_with_little_entropy(database_url, key):
    with pytest.raises(ConfigError, match="too weak.*token_urlsafe"):
        create_app({**PRODUCTION, "SECRET_KEY": key, "SQLALCHEMY_DATABASE_URI": database_url})


def test_random_keys_pass(database_url):
    import secrets

    from coop.config import secret_key_problem

    for _ in range(500):
        assert secret_key_problem(secrets.token_urlsafe(24)) is None
        assert secret_key_problem(secrets.token_hex()) is None
    app = create_app({**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(48),
                      "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        _db.engine.dispose()


@pytest.mark.parametrize(("settings", "attack"), attacks())
def test_feeds_calendars_and_event_data(make_app, make_event, settings, attack):  # noqa: F811
    app = make_app(**settings, CACHE_RESPONSES=False)
    client = app.test_client()
    event = make_event("Calendar talk")
    for path in ("/events.ics", f"/events/{event.slug}.ics", "/events.atom",
                 f"/events/{event.slug}", "/events"):
        response = client.get(path, **attack)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        assert EVIL not in body, path
        if path != "/events":
            assert f"{BASE}/events/{event.slug}" in body.replace("\r\n ", ""), path


def test_production_from_the_environment_refuses_32_times_a(monkeypatch, database_url):
    """``COOP_ENV=production SECRET_KEY=aaaa…a`` (32 × "a") must not start."""
    monkeypatch.delenv("COOP_SECRET_KEY", raising=False)
    monkeypatch.setenv("COOP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a" * 32)
    monkeypatch.setenv("COOP_BASE_URL", "https://coop.example.org")
    monkeypatch.setenv("DATABASE_URL", database_url)
    with pytest.raises(ConfigError, match="one 1-character pattern repeated.*token_urlsafe"):
        create_app()
    monkeypatch.setenv("SECRET_KEY", PRODUCTION["SECRET_KEY"])
    monkeypatch.delenv("COOP_BASE_URL")
    with pytest.raises(ConfigError, match="COOP_BASE_URL must be set"):
        create_app()
