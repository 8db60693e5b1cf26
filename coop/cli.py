"""Command-line tools: ``create-user`` and ``seed`` (demo data); features add their own."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from coop.extensions import db


@click.command("create-user")
@click.argument("email")
@click.option("--role", default="member", show_default=True,
              help="member, staff or admin")
@click.option("--name", default="", help="The person's name.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input (for scripts) instead of emailing "
                   "an invitation.")
@with_appcontext
def create_user_command(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create an account, e.g. the first admin: create-user you@example.org --role admin.

    The person gets an email with a single-use link to choose their password (valid
    INVITATION_HOURS); with --password-stdin the password is read from standard input instead.
    """
    from coop.accounts import services
    from coop.mail import normalise_email

    if role not in ("member", "staff", "admin"):
        raise click.UsageError(f"Unknown role {role!r}: use member, staff or admin.")
    if services.get_by_email(db.session, email) is not None:
        raise click.ClickException(f"An account with the email {normalise_email(email)} "
                                   "already exists.")
    try:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            user = services.create_user(db.session, email, password, role=role, name=name)
        else:
            user = services.invite_user(db.session, email, name=name, role=role)
    except services.AccountError as err:
        raise click.ClickException(str(err)) from None
    db.session.commit()
    if password_stdin:
        click.echo(f"Created {user.email} ({user.role}).")
    else:
        click.echo(f"Created {user.email} ({user.role}) and sent an invitation to choose a "
                   "password.")


def seeds_dir() -> Path:
    from coop import ROOT

    return Path(current_app.config.get("SEEDS_DIR") or ROOT / "seeds")


def load_seed_file(name: str) -> dict:
    path = seeds_dir() / f"{name}.toml"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


@click.command("seed")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Pretend the demo is loaded on this day (default: today in London).")
@with_appcontext
def seed_command(today) -> None:
    """Load the demo data from seeds/ (safe to run again: nothing is added twice)."""
    from coop.accounts import seed as accounts_seed
    from coop.events import seed as events_seed
    from coop.fund import seed as fund_seed
    from coop.newsletter import seed as newsletter_seed
    from coop.notices import seed as notices_seed
    from coop.register import seed as register_seed
    from coop.shares import seed as shares_seed
    from coop.timeutil import london_today

    day = today.date() if today else london_today()
    seeds = (("accounts", accounts_seed), ("fund", fund_seed), ("shares", shares_seed),
             ("register", register_seed), ("events", events_seed),
             ("newsletter", newsletter_seed), ("notices", notices_seed))
    for name, module in seeds:
        summary = module.load(db.session, load_seed_file(name), day)
        db.session.commit()
        if summary:
            click.echo(summary)


def init_app(app: Flask) -> None:
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_command)
