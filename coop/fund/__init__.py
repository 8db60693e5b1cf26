"""The monthly fighting fund: campaigns, the audited ledger, public bar, widget, badge and API."""

from __future__ import annotations

from flask import Flask

#: defaults; override with COOP_FUND_* environment variables or the app config
DEFAULTS = {
    #: the largest single gift (pence) staff or the API may enter: £100,000
    "FUND_MAX_GIFT_PENCE": 10_000_000,
    #: how old (seconds) the public figures may be in a process that didn't take the write
    "FUND_CACHE_SECONDS": 1.0,
    #: who may frame /fund/widget: None means any site; else a list or space-separated origins
    "FUND_WIDGET_ORIGINS": None,
    #: Cache-Control max-age (seconds) of the widget, badge and JSON
    "FUND_PUBLIC_MAX_AGE": 30,
    #: answer repeat requests for the embeds from kept responses (see coop/fund/fastpath.py)
    "FUND_FAST_PATH": True,
}


def init_app(app: Flask) -> None:
    from coop import hooks
    from coop.fund import cache, models  # noqa: F401 - the tables belong to the schema

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.extensions["coop.fund.cache"] = cache.FiguresCache(
        ttl=float(app.config["FUND_CACHE_SECONDS"])
    )
    cache.listen()
    from coop.fund.tally import TallyKeeper

    app.extensions["coop.fund.tally"] = TallyKeeper()

    from coop.fund import api, cli, staff, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(staff.bp)
    app.cli.add_command(cli.verify_command)
    if app.config["FUND_FAST_PATH"]:
        from coop.fund.fastpath import FastFigures

        app.wsgi_app = FastFigures(app.wsgi_app, app.extensions["coop.fund.cache"])
    app.jinja_env.globals["donate_href"] = donate_href
    app.jinja_env.globals["entry_links"] = entry_links
    hooks.register(app, "home_sections", views.home_panel)
    hooks.register(app, "staff_links", staff.staff_links)


def donate_href(fund) -> str:
    """Where "Donate today" goes: a feature's own page (the "donate_link" hook, e.g. online
    payments when configured), else the campaign's ``donate_url``."""
    from coop import hooks

    links = hooks.call("donate_link", fund)
    return links[0] if links else fund.donate_url


def entry_links(entries) -> dict:
    """Links beside ledger rows from other features (the "entry_links" hook)."""
    from coop import hooks
    from coop.extensions import db

    merged: dict = {}
    for links in hooks.call("entry_links", db.session, list(entries)):
        merged.update(links)
    return merged
