"""Account commands: ``purge-login-failures`` (old throttle counters and ended sessions)."""

from __future__ import annotations

import datetime as dt

import click
from flask import Flask
from flask.cli import with_appcontext

from coop.db import now_utc
from coop.extensions import db


@click.command("purge-login-failures")
@click.option("--older-than-hours", type=click.IntRange(1, 24 * 365), default=24,
              show_default=True, help="Keep counters touched more recently than this.")
@with_appcontext
def purge_login_failures_command(older_than_hours: int) -> None:
    """Delete throttle counters with no failure for a while, and sessions ended or unused
    for longer than the longest remember-me (run daily)."""
    from flask import current_app

    from coop.accounts import sessions, throttle

    now = now_utc()
    counters = throttle.purge(db.session, older_than=now - dt.timedelta(hours=older_than_hours))
    keep = max(current_app.config["REMEMBER_COOKIE_DURATION"], dt.timedelta(days=1))
    ended = sessions.purge(db.session, older_than=now - keep)
    db.session.commit()
    click.echo(f"Deleted {counters} login-failure counter{'s' if counters != 1 else ''} and "
               f"{ended} old session{'s' if ended != 1 else ''}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(purge_login_failures_command)
