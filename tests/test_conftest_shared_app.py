"""The worker's shared app (``SharedApp`` in tests/conftest.py): each test gets it back as it was
built, and a change the reset can't undo fails loudly. The reset is tested on an instance of
this test's own, so nothing here depends on the order tests run in."""

from __future__ import annotations

import time

import pytest

from coop import formatting, tasks
from coop.cache import ResponseCache
from coop.extensions import limiter
from coop.register import read_rules
from coop.register.services import Rules
from tests.conftest import SharedApp

SIGNUP = {"email": "reader@example.org", "name": "Ann", "topics": ["events"], "consent": "y",
          "source": "page"}


@pytest.fixture
def shared(database_url, mail_outbox):
    """A SharedApp of this test's own, in use as a test would have it."""
    own = SharedApp(database_url, mail_outbox)
    own.use()
    yield own
    own.close()


def test_the_default_app_is_the_workers_shared_one(make_app, shared_app):
    app = make_app()
    assert app is shared_app.app
    assert make_app() is app  # a second call in the same test: the same app, as left
    assert make_app(SITE_NAME="Elsewhere") is not app


def test_shared_apps_with_settings_are_one_per_set_of_settings(make_app, shared_apps):
    app = make_app.shared(SITE_NAME="Elsewhere")
    assert app.config["SITE_NAME"] == "Elsewhere"
    assert make_app.shared(SITE_NAME="Elsewhere") is app
    assert app in {shared.app for shared in shared_apps.values()}
    assert make_app() is not app


@pytest.mark.own_app
def test_a_test_marked_own_app_gets_a_new_app(make_app, shared_app, shared_apps):
    assert make_app() is not shared_app.app
    assert make_app.shared(SITE_NAME="Own") not in {s.app for s in shared_apps.values()}


def test_reset_puts_back_the_config_attributes_and_templates_helpers(shared):
    app = shared.app
    app.config["SITE_NAME"] = "Changed"
    app.config["SOMETHING_NEW"] = 1
    app.config["SQLALCHEMY_ENGINE_OPTIONS"]["changed_inside"] = True
    app.counted = []
    app.wsgi_app = lambda environ, start_response: []
    app.jinja_env.globals["extra"] = "x"
    app.jinja_env.filters["money"] = str

    shared.reset()

    assert app.config["SITE_NAME"] == "The People's Paper"
    assert "SOMETHING_NEW" not in app.config
    assert "changed_inside" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert not hasattr(app, "counted")
    assert isinstance(app.wsgi_app, ResponseCache)
    assert "extra" not in app.jinja_env.globals
    assert app.jinja_env.filters["money"] is formatting.money


def test_reset_gives_every_extension_its_state_as_built(shared):
    app = shared.app
    store = app.extensions["coop.cache"]
    store.clock = lambda: 0.0
    store.seconds = 60
    store.values.put("kept", 1)
    store.responses.put(("/fund",), 1)
    hooks = app.extensions["coop.hooks"]
    hooks["home_sections"].append(print)
    app.extensions["coop.outbox"].dispatch = None
    tally = app.extensions["coop.fund.tally"]
    counter = app.extensions["shares_limits"]
    app.extensions["coop.register"] = Rules(min_holding=5)
    app.extensions["coop.url_if"] = {("main.index", ""): "/elsewhere"}
    tasks.huey.immediate = False

    shared.reset()

    assert app.extensions["coop.cache"] is store  # the layer in front of Flask holds it
    assert store.clock is time.monotonic and store.seconds == 2
    assert len(store.values) == len(store.responses) == 0
    assert print not in hooks["home_sections"]
    assert hooks == shared.hooks
    assert app.extensions["coop.outbox"].dispatch is tasks.queue_delivery
    assert tasks.huey.immediate  # TASKS_IMMEDIATE, as the testing config says
    assert app.extensions["coop.fund.tally"] is not tally
    assert app.extensions["shares_limits"] is not counter
    assert app.extensions["coop.register"] == read_rules(app.config)
    assert "coop.url_if" not in app.extensions


def test_reset_forgets_rate_limit_counts_and_another_apps_limiter_settings(shared, make_app):
    app = shared.app
    app.config["NEWSLETTER_RATE_LIMIT"] = "1 per hour"  # read at each request
    client = app.test_client()
    assert client.post("/newsletter", data=SIGNUP).status_code == 302
    assert client.post("/newsletter", data=SIGNUP).status_code == 429
    make_app(RATELIMIT_ENABLED=False)  # Flask-Limiter's one Limiter now has limits off
    assert not limiter.enabled

    shared.reset()

    assert limiter.enabled
    app.config["NEWSLETTER_RATE_LIMIT"] = "1 per hour"
    assert app.test_client().post("/newsletter", data=SIGNUP).status_code == 302
    assert app.test_client().post("/newsletter", data=SIGNUP).status_code == 429


def test_an_extension_the_reset_does_not_know_fails_loudly(shared):
    shared.app.extensions["somebody.new"] = {}
    with pytest.raises(RuntimeError, match="somebody.new"):
        shared.reset()
    del shared.app.extensions["somebody.new"]


def test_a_change_the_reset_cannot_undo_fails_the_test_that_made_it(shared):
    @shared.app.route("/added-by-a-test")
    def added():
        return "ok"

    added.access_level = "public"
    with pytest.raises(AssertionError, match="view_functions, url_map"):
        shared.close()
