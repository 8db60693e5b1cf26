"""Newsletter sign-up with double opt-in, topics and unsubscribe."""

from __future__ import annotations

import click
from flask import Flask, g
from flask.cli import with_appcontext

#: defaults; each can be overridden in the config or as COOP_<NAME> in the environment
DEFAULTS = {
    #: the topics readers choose from: {key: label}, in the order shown
    "NEWSLETTER_TOPICS": {
        "publications": "New publications",
        "events": "Events",
        "appeals": "Fund appeals",
        "offers": "Special offers",
    },
    #: the consent line next to the sign-up forms; change the version whenever the text changes
    "NEWSLETTER_CONSENT_TEXT": (
        "Yes, email me about the topics I've ticked. I can unsubscribe at any time "
        "with the link in every email."
    ),
    "NEWSLETTER_CONSENT_VERSION": "2026-11",
    #: sign-ups one email address may make (Flask-Limiter syntax); another limit per IP
    "NEWSLETTER_RATE_LIMIT": "5 per hour",
    "NEWSLETTER_IP_RATE_LIMIT": "30 per hour",
    #: a confirmation link works this many days
    "NEWSLETTER_TOKEN_DAYS": 7,
    #: at most one email per address in this many minutes
    "NEWSLETTER_RESEND_MINUTES": 60,
}

def init_app(app: Flask) -> None:
    from coop import hooks
    from coop.extensions import csrf
    from coop.newsletter import staff, views

    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    csrf.exempt(views.one_click)
    csrf.exempt(views.start)  # saves nothing: draws the page with the real, protected form
    app.cli.add_command(purge_pending_command)
    hooks.register(app, "account_sections", _account_section)
    hooks.register(app, "data_export", _data_export)
    hooks.register(app, "account_deletion", _account_deletion)
    hooks.register(app, "staff_links", _staff_links)
    hooks.register(app, "email_changed", _email_changed)


def _account_section(session, user):
    from coop.newsletter import services
    from coop.newsletter.forms import AccountTopicsForm

    subscriber = services.get_by_email(session, user.email)
    form = g.get("newsletter_form")  # sent and refused: drawn again as it was sent
    if form is None:
        form = AccountTopicsForm(formdata=None)
        if subscriber is not None and subscriber.status != "unsubscribed":
            form.topics.data = subscriber.topic_keys
        else:
            form.topics.data = list(services.topic_choices())
    return {"template": "newsletter/_account_section.html", "subscriber": subscriber,
            "newsletter_form": form}


def _data_export(session, user):
    from coop.newsletter import services

    subscriber = services.get_by_email(session, user.email)
    return "newsletter", services.export_row(subscriber) if subscriber else None


def _account_deletion(session, user):
    from coop.newsletter import services

    subscriber = services.get_by_email(session, user.email)
    if subscriber is not None:
        services.erase(session, subscriber)


def _email_changed(session, old: str, new: str) -> None:
    from coop.newsletter import services

    services.move_email(session, old, new)


def _staff_links():
    return [("Newsletter subscribers", "newsletter_staff.index")]


@click.command("newsletter-purge-pending")
@click.option("--older-than-days", type=click.IntRange(min=1), default=30, show_default=True,
              help="Delete addresses that never confirmed within this many days.")
@with_appcontext
def purge_pending_command(older_than_days: int) -> None:
    """Delete newsletter sign-ups that were never confirmed (they never consented): the
    scheduled job's work, with a number of days of your own."""
    from coop import schedule
    from coop.db import now_utc
    from coop.extensions import db

    click.echo(schedule.purge_newsletter_pending(db.session, now_utc(), days=older_than_days))
