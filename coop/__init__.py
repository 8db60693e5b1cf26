"""The coop application factory: a table of contents for the whole app."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from coop import (
    accounts,
    api,
    events,
    fund,
    main,
    newsletter,
    notices,
    ops,
    payments,
    register,
    shares,
)
from coop.config import load_config

ROOT = Path(__file__).resolve().parent.parent

#: the feature packages; each has ``init_app(app)``. Their order is only the order of the
#: sections they add to the home page, the account page and the staff links (hooks)
FEATURES = (main, accounts, fund, shares, register, events, newsletter, notices, api, payments, ops)


def create_app(config: dict | None = None) -> Flask:
    if not (ROOT / "templates").is_dir():
        # A copy in site-packages (``pip install .``) has no templates: the worker, which
        # imports that copy, failed each email's task with TemplateNotFound (README check).
        raise RuntimeError(f"coop's templates/ is not at {ROOT / 'templates'}: install the "
                           "checkout editable (pip install -e .), as the README says")
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.environ.get("COOP_INSTANCE_PATH") or None,
        template_folder=str(ROOT / "templates"),
        static_folder=str(Path(__file__).resolve().parent / "static"),
    )
    load_config(app, config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    register_url_converters(app)
    register_extensions(app)
    register_features(app)
    register_template_helpers(app)
    register_security(app)
    register_errorhandlers(app)
    register_commands(app)
    wrap_wsgi(app)
    return app


def register_url_converters(app: Flask) -> None:
    from coop import urls

    urls.init_app(app)


def register_extensions(app: Flask) -> None:
    from coop import cache, hooks, outbox, submissions, tasks
    from coop.db import configure_sqlite
    from coop.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    hooks.init_app(app)
    outbox.init_app(app)
    submissions.init_app(app)
    cache.init_app(app)
    tasks.init_app(app)


def register_features(app: Flask) -> None:
    for feature in FEATURES:
        feature.init_app(app)


def register_template_helpers(app: Flask) -> None:
    from coop import formatting

    formatting.init_app(app)


def register_security(app: Flask) -> None:
    from coop import security

    security.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    from coop import errors

    errors.init_app(app)


def register_commands(app: Flask) -> None:
    from coop import cli

    cli.init_app(app)


def wrap_wsgi(app: Flask) -> None:
    """Every WSGI layer around Flask, here and nowhere else; the last one added is the
    outermost, the first to see a request."""
    from coop.cache import ResponseCache

    # 1. Inside: the response cache for anonymous readers (coop/cache.py). It sits inside
    #    ProxyFix so it sees the same path and scheme Flask does.
    if app.config["CACHE_RESPONSES"] and float(app.config["CACHE_SECONDS"]) > 0:
        app.wsgi_app = ResponseCache(app, app.wsgi_app, app.extensions["coop.cache"])
    # 2. Outside: trust X-Forwarded-For/-Proto from this many proxies in front
    #    (COOP_PROXY_FIX): the client's address and scheme, never its idea of the host (links
    #    that leave the site come from BASE_URL, and TRUSTED_HOSTS checks the Host header).
    if app.config.get("PROXY_FIX"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0)
