"""Staff pages for the newsletter: counts by topic and status, subscribers, CSV by topic."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from coop.access import access
from coop.csvexport import csv_response
from coop.db import now_utc
from coop.extensions import db
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
    found = db.session.get(Subscriber, subscriber_id)
    if found is None:
        abort(404)
    return render_template("newsletter/staff/subscriber.html", subscriber=found,
                           topics=services.topic_choices())
