"""The monthly fighting fund: campaigns, the audited ledger, public bar, widget, badge and API."""

from __future__ import annotations

from flask import Flask

from coop.fund.services import DEFAULT_MAX_GIFT_PENCE

#: defaults; override with COOP_FUND_* environment variables or the app config
DEFAULTS = {
    #: the largest single gift (pence) staff or the API may enter
    "FUND_MAX_GIFT_PENCE": DEFAULT_MAX_GIFT_PENCE,
    #: the sites that may frame /fund/widget and fetch() the public JSON: None means any site;
    #: else a list or space-separated origins
    "FUND_WIDGET_ORIGINS": None,
}


def init_app(app: Flask) -> None:
    from coop import hooks
    from coop.extensions import csrf
    from coop.fund import api, cli, staff, views
    from coop.fund.tally import TallyKeeper

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.extensions["coop.fund.tally"] = TallyKeeper()

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.add_entry)  # a bearer token, not cookies: cross-site requests carry none
    app.register_blueprint(staff.bp)
    app.cli.add_command(cli.verify_command)
    app.jinja_env.globals["donate_href"] = donate_href
    app.jinja_env.globals["entry_links"] = entry_links
    app.jinja_env.globals["corrections_of"] = corrections_of
    hooks.register(app, "home_sections", views.home_panel)
    hooks.register(app, "staff_links", staff.staff_links)
    hooks.register(app, "staff_today", staff.staff_today)
    hooks.register(app, "nightly_checks", _verify_totals)


def _verify_totals(session):
    from coop.fund import services

    _checked, differences = services.verify_totals(session)
    return "Fighting fund", [d.describe() for d in differences]


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


def corrections_of(entries) -> dict:
    """Beside each ledger row corrected by name: by which entries, and how much in all."""
    from coop.extensions import db
    from coop.fund import services

    return services.corrections_of(db.session, [e.id for e in entries])
