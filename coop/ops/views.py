"""Staff pages: mail the outbox has not delivered (with "Try again") and the scheduled jobs."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from coop import outbox, schedule
from coop.access import access
from coop.extensions import db
from coop.forms import EmptyForm
from coop.security import is_safe_next

bp = Blueprint("ops_staff", __name__, url_prefix="/staff/mail")


def outbox_about(ref: str) -> list[outbox.OutboxMessage]:
    """For templates: the messages about one record (an enquiry's page shows its mail)."""
    return outbox.about(db.session, ref)


@bp.route("")
@access("staff")
def mail():
    return render_template(
        "ops/mail.html",
        messages=outbox.undelivered(db.session),
        counts=outbox.counts(db.session),
        jobs=schedule.JOBS.values(),
        runs=schedule.last_runs(db.session),
        form=EmptyForm(),
        max_attempts=outbox.MAX_ATTEMPTS,
    )


@bp.route("/<int:message_id>/retry", methods=["POST"])
@access("staff")
def retry(message_id: int):
    """Try an undelivered message again now, with a fresh run of attempts."""
    message = db.session.get(outbox.OutboxMessage, message_id)
    if message is None:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if message.status == outbox.Status.SENT:
        flash(f"The email to {message.to_address} was already delivered.", "info")
    else:
        outbox.retry(db.session, message)
        flash(f"The email to {message.to_address} (“{message.subject}”) will be tried again "
              "now.", "success")
    db.session.commit()
    back = request.form.get("next", "")
    return redirect(back if back and is_safe_next(back) else url_for("ops_staff.mail"))


def staff_today(session) -> dict:
    """The "staff_today" hook: mail not delivered yet, and how much of it has given up."""
    counts = outbox.counts(session)
    return {"template": "ops/_today.html", "order": 40,
            "undelivered": sum(n for status, n in counts.items()
                               if status != outbox.Status.SENT.value),
            "failed": counts.get(outbox.Status.FAILED.value, 0)}
