"""``flask --app coop mail-queue`` (undelivered mail, ``--retry ID``) and ``jobs list|run``."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext

from coop import outbox, schedule
from coop.extensions import db


@click.command("mail-queue")
@click.option("--retry", "retry_id", type=int, help="Try this message again now.")
@click.option("--all", "show_all", is_flag=True, help="List delivered ones too (newest 50).")
@with_appcontext
def mail_queue_command(retry_id: int | None, show_all: bool) -> None:
    """List emails not delivered yet (pending, being sent, given up), or retry one."""
    if retry_id is not None:
        message = db.session.get(outbox.OutboxMessage, retry_id)
        if message is None:
            raise click.ClickException(f"No message {retry_id}.")
        if message.status == outbox.Status.SENT:
            raise click.ClickException(f"Message {retry_id} was already delivered.")
        outbox.retry(db.session, message)
        db.session.commit()
        click.echo(f"Message {retry_id} to {message.to_address} queued to be tried again.")
        return
    counts = outbox.counts(db.session)
    click.echo("  ".join(f"{status}: {counts.get(status, 0)}" for status in outbox.Status))
    messages = outbox.undelivered(db.session)
    if show_all:
        import sqlalchemy as sa

        messages += list(db.session.scalars(
            sa.select(outbox.OutboxMessage).where(outbox.OutboxMessage.status == "sent")
            .order_by(outbox.OutboxMessage.id.desc()).limit(50)))
    for m in messages:
        next_try = (f"next {m.next_attempt_at:%Y-%m-%d %H:%M:%S}Z"
                    if m.status == outbox.Status.PENDING else "")
        click.echo(f"{m.id}\t{m.status}\t{m.attempts} tries\t{m.to_address}\t{m.subject}"
                   f"\t{next_try}\t{m.last_error}")
    if not messages:
        click.echo("Nothing waiting: every email has been delivered.")


@click.group("jobs")
def jobs_cli() -> None:
    """The scheduled jobs the worker runs (see /staff/mail)."""


@jobs_cli.command("list")
@with_appcontext
def list_command() -> None:
    runs = schedule.last_runs(db.session)
    for job in schedule.JOBS.values():
        run = runs.get(job.name)
        if run is None:
            last = "never run"
        elif run.ok:
            last = f"{run.finished_at:%Y-%m-%d %H:%M}Z ok: {run.summary}"
        else:
            last = f"{run.finished_at:%Y-%m-%d %H:%M}Z FAILED: {run.error}"
        click.echo(f"{job.name}\t{job.when}\t{last}")


@jobs_cli.command("run")
@click.argument("name", type=click.Choice(sorted(schedule.JOBS)))
@click.option("--now", "now_text", default=None,
              help="Run as if it were this UTC time (ISO 8601), e.g. to catch up.")
@with_appcontext
def run_command(name: str, now_text: str | None) -> None:
    """Run one scheduled job now; exit 1 if it fails (a nightly check finding a difference)."""
    now = None
    if now_text:
        try:
            now = dt.datetime.fromisoformat(now_text)
        except ValueError:
            raise click.BadParameter("use ISO 8601, e.g. 2026-12-01T03:00:00",
                                     param_hint="--now") from None
        now = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    try:
        summary = schedule.run_job(name, now=now)
    except Exception as err:  # noqa: BLE001 - reported, recorded for staff, exit 1
        click.echo(f"{name} failed: {err}", err=True)
        raise SystemExit(1) from None
    click.echo(summary)
