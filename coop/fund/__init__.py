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
    hooks.register(app, "home_sections", views.home_panel)
    hooks.register(app, "staff_links", staff.staff_links)
    hooks.register(app, "nightly_checks", _verify_totals)


def _verify_totals(session):
    from coop.fund import services

    _checked, differences = services.verify_totals(session)
    return "Fighting fund", [d.describe() for d in differences]
