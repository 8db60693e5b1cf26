"""Operations: undelivered mail and scheduled jobs for staff (``/staff/mail``), and the
``mail-queue`` and ``jobs`` commands."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from coop import hooks, schedule  # noqa: F401 - job_runs belongs to the schema
    from coop.ops import cli, views

    app.register_blueprint(views.bp)
    app.cli.add_command(cli.mail_queue_command)
    app.cli.add_command(cli.jobs_cli)
    app.jinja_env.globals["outbox_about"] = views.outbox_about
    hooks.register(app, "staff_links", _staff_links)
    hooks.register(app, "staff_today", views.staff_today)


def _staff_links():
    return [("Undelivered mail and scheduled jobs", "ops_staff.mail")]
