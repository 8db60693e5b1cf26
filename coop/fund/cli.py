"""``flask --app coop fund-verify``: recompute every campaign's total from its ledger."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from coop.extensions import db
from coop.fund import services


@click.command("fund-verify")
@with_appcontext
def verify_command() -> None:
    """Compare each campaign's running total with the sum of its ledger; exit 1 on any
    difference (for cron and monitoring)."""
    checked, differences = services.verify_totals(db.session)
    db.session.rollback()
    for difference in differences:
        click.echo("DIFFERENCE " + difference.describe(), err=True)
    if differences:
        raise SystemExit(1)
    click.echo(f"OK: {checked} campaign{'s' if checked != 1 else ''} agree with the ledger.")
