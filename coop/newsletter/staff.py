"""Staff pages for the newsletter: counts by topic and status, subscribers, CSV by topic."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coop import audit
from coop.access import access
from coop.csvexport import csv_response
from coop.db import now_utc
from coop.extensions import db
from coop.forms import ConfirmForm, EmptyForm, not_confirmed
from coop.newsletter import services
from coop.newsletter.forms import ExportForm, SearchForm
from coop.newsletter.models import Subscriber

bp = Blueprint("newsletter_staff", __name__, url_prefix="/staff/newsletter")


@bp.route("")
@access("staff")
def index():
    form = SearchForm(request.args)
    valid = form.validate()
    subscribers = services.search(db.session, (form.q.data or "") if valid else "",
                                  status=(form.status.data or None) if valid else None)
    return render_template(
        "newsletter/staff/index.html",
        counts=services.counts(db.session),
        topics=services.topic_choices(),
        export_form=ExportForm(request.args),
        search_form=form,
        subscribers=subscribers,
    )


@bp.route("/export")
@access("staff")
def export():
    """Confirmed subscribers for one topic, as CSV (cells that could be formulas neutralised);
    without a topic, the page to choose one.

    :raise 404: for a topic that isn't configured.
    """
    topic = request.args.get("topic", "")
    topics = services.topic_choices()
    if not topic:
        return render_template("newsletter/staff/export.html", export_form=ExportForm(),
                               counts=services.counts(db.session), topics=topics)
    if topic not in topics:
        abort(404, "There's no such newsletter topic.")
    rows = [
        (s.email, s.name, s.confirmed_at.isoformat() if s.confirmed_at else "",
         ", ".join(topics.get(k, k) for k in s.topic_keys))
        for s in services.confirmed_for_topic(db.session, topic)
    ]
    stamp = now_utc().strftime("%Y-%m-%d")
    return csv_response(f"newsletter-{topic}-{stamp}.csv",
                        ["email", "name", "confirmed_at_utc", "topics"], rows)


@bp.route("/subscribers/<int:subscriber_id>")
@access("staff")
def subscriber(subscriber_id: int):
    """One subscriber with their whole consent record."""
    return render_template("newsletter/staff/subscriber.html",
                           subscriber=_subscriber_or_404(subscriber_id),
                           topics=services.topic_choices())


def _subscriber_or_404(subscriber_id: int) -> Subscriber:
    return db.get_or_404(Subscriber, subscriber_id)


@bp.route("/subscribers/<int:subscriber_id>/unsubscribe", methods=["POST"])
@access("staff")
def unsubscribe(subscriber_id: int):
    """For someone who asks by letter, phone or email: no more newsletters (the consent
    record says staff did it, and when)."""
    found = _subscriber_or_404(subscriber_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if services.unsubscribe(db.session, found, source="staff"):
        audit.record(db.session, "newsletter.unsubscribed_by_staff", "newsletter_subscriber",
                     found.id, by=current_user)
        flash(f"{found.email} is unsubscribed: no more newsletters go to it.", "success")
    else:
        flash(f"{found.email} was already unsubscribed.", "info")
    db.session.commit()
    return redirect(url_for("newsletter_staff.subscriber", subscriber_id=found.id))


@bp.route("/subscribers/<int:subscriber_id>/erase", methods=["POST"])
@access("staff")
def erase(subscriber_id: int):
    """Someone's request to be forgotten: the address, its topics and its consent record
    go. The audit log keeps that staff erased subscriber N, never the address."""
    found = _subscriber_or_404(subscriber_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.confirm.data:
        flash(not_confirmed("Erase this subscriber"), "error")
        return redirect(url_for("newsletter_staff.subscriber", subscriber_id=found.id))
    audit.record(db.session, "newsletter.subscriber_erased", "newsletter_subscriber", found.id,
                 by=current_user)
    services.erase(db.session, found)
    db.session.commit()
    flash("The subscriber is erased: their address, topics and consent record are gone.",
          "success")
    return redirect(url_for("newsletter_staff.index"))
