"""``flask --app coop api-token create|revoke|list``."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from coop.api import services
from coop.extensions import db

api_token_cli = AppGroup(
    "api-token", help="Create, list and revoke API bearer tokens; forget old idempotency keys."
)


@api_token_cli.command("create")
@click.argument("name")
def create_command(name: str) -> None:
    """Create a token called NAME and print it (the only time it is shown)."""
    try:
        token, secret = services.create_token(db.session, name)
    except services.ApiError as err:
        raise click.ClickException(str(err)) from None
    db.session.commit()
    click.echo(f"Created the API token {token.name!r}. It is shown only this once:",
               err=True)
    click.echo(secret)


@api_token_cli.command("revoke")
@click.argument("name_or_prefix")
def revoke_command(name_or_prefix: str) -> None:
    """Revoke the token with this name (or visible prefix, e.g. coop_AbC12xYz)."""
    token = services.find_token(db.session, name_or_prefix)
    if token is None:
        raise click.ClickException(f"No API token is called {name_or_prefix!r}.")
    if services.revoke_token(db.session, token):
        db.session.commit()
        click.echo(f"Revoked the API token {token.name!r}.")
    else:
        click.echo(f"The API token {token.name!r} was already revoked.")


@api_token_cli.command("list")
def list_command() -> None:
    """List tokens: name, prefix, status, last used."""
    tokens = services.list_tokens(db.session)
    if not tokens:
        click.echo("No API tokens.")
    for token in tokens:
        state = "active" if token.active else f"revoked {token.revoked_at:%Y-%m-%d %H:%M}Z"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}Z" if token.last_used_at else "never"
        click.echo(f"{token.name}\t{token.prefix}…\t{state}\tlast used {used}")


@api_token_cli.command("purge-keys")
@click.option("--days", type=click.IntRange(min=1), default=90, show_default=True,
              help="Forget idempotency keys older than this many days.")
def purge_keys_command(days: int) -> None:
    """Forget old Idempotency-Key answers (a retry after that would record the gift again)."""
    count = services.purge_keys(db.session, older_than=dt.timedelta(days=days))
    db.session.commit()
    click.echo(f"Forgot {count} idempotency key{'' if count == 1 else 's'} older than "
               f"{days} days.")
