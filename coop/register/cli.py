"""``flask --app coop register-verify``: recompute every member's holding from the ledger."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from coop.extensions import db
from coop.register import services


@click.command("register-verify")
@with_appcontext
def verify_command() -> None:
    """Compare each member's holding with the sum of their share ledger; exit 1 on any
    difference (for the nightly job and monitoring)."""
    problems = services.verify_register(db.session)
    members = db.session.scalar(db.select(db.func.count(services.Member.id)))
    db.session.rollback()
    for problem in problems:
        click.echo("DIFFERENCE " + problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"OK: {members} member{'s' if members != 1 else ''} agree with the ledger.")
