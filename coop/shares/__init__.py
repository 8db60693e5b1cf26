"""Share-buying and supporter enquiries: public forms, staff inbox, member view."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

#: defaults; each can be overridden in the config or as COOP_<NAME> in the environment
DEFAULTS = {
    #: the least and most one enquiry may offer for shares (£1 each), in whole pounds
    "SHARES_MIN_POUNDS": 1,
    "SHARES_MAX_POUNDS": 100_000,
    #: supporter pledges, in pounds
    "SUPPORT_MIN_POUNDS": 1,
    "SUPPORT_MAX_POUNDS": 10_000,
    #: Markdown shown above the share enquiry form
    "SHARES_INTRO": (
        "The paper is owned by its readers through the society. Each share costs **£1**, "
        "and every shareholder has **one vote**, however many shares they hold. "
        "Shares are not traded and don't pay dividends: they give you a say in how the paper "
        "is run and help keep it independent.\n\n"
        "Send us this form and the membership secretary will be in touch about paying and "
        "your share certificate. Nothing is taken from you until then."
    ),
    #: enquiries one email address may send in the window (both forms together)
    "SHARES_RATE_LIMIT": "5 per hour",
    #: the ceiling for one client (IP address), both forms together: generous, so a readers'
    #: meeting on one wifi isn't stopped, but a script can't flood the inbox
    "SHARES_CLIENT_RATE_LIMIT": "60 per hour",
    #: the privacy notice linked from the consent box; empty means this feature's /privacy
    "PRIVACY_URL": "",
}


def init_app(app: Flask) -> None:
    from coop import hooks
    from coop.shares import ratelimit, staff, views

    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    ratelimit.init_app(app)
    app.register_blueprint(views.bp)
    app.jinja_env.globals["shares_privacy_url"] = views.privacy_url
    app.register_blueprint(staff.bp)
    app.cli.add_command(purge_enquiries_command)
    hooks.register(app, "account_sections", _account_section)
    hooks.register(app, "data_export", _data_export)
    hooks.register(app, "account_deletion", _account_deletion)
    hooks.register(app, "staff_links", _staff_links)
    hooks.register(app, "staff_today", staff.staff_today)


def _account_section(session, user):
    from coop.shares import services

    return {"template": "shares/_account_section.html",
            "share_enquiries": services.for_user(session, user)}


def _data_export(session, user):
    from coop.shares import services

    return "share_enquiries", [services.export_row(e) for e in services.for_user(session, user)]


def _account_deletion(session, user):
    from coop.shares import services

    services.anonymise_for_user(session, user)


def _staff_links():
    return [("Share and supporter enquiries", "shares_staff.inbox")]


@click.command("purge-enquiries")
@click.option("--older-than-days", type=click.IntRange(min=0), required=True,
              help="Erase closed enquiries (admitted, completed, declined, withdrawn) closed "
                   "more than this many days ago.")
@with_appcontext
def purge_enquiries_command(older_than_days: int) -> None:
    """Erase the personal data on closed enquiries older than N days (keeps the statistics):
    the scheduled job's work, with a number of days of your own."""
    from coop import schedule
    from coop.db import now_utc
    from coop.extensions import db

    click.echo(schedule.purge_enquiries(db.session, now_utc(), days=older_than_days))
