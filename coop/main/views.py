"""The home page, the health check and the staff dashboard."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify, render_template
from sqlalchemy.exc import SQLAlchemyError

from coop import hooks
from coop.access import access
from coop.cache import cached
from coop.extensions import db

bp = Blueprint("main", __name__)


@bp.route("/")
@access("public")
@cached()
def index():
    sections = hooks.call("home_sections", db.session)
    return render_template("main/index.html", sections=sections)


@bp.route("/healthz")
@access("public")
def healthz():
    """``{"status": "ok", "database": "ok", "queue": "ok"}``, or 503 with ``"database":
    "unavailable"``. A queue that is behind (``"queue": "behind"`` with the oldest waiting
    message's age in ``queue_oldest_seconds``) is reported but keeps the 200: the site still
    serves readers."""
    from coop.tasks import queue_health

    try:
        db.session.execute(sa.text("SELECT 1"))
        queue = queue_health(db.session)
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="degraded", database="unavailable"), 503, {"Retry-After": "30"}
    return jsonify(status="ok", database="ok", **queue)


@bp.route("/staff")
@access("staff")
def staff_dashboard():
    """What needs staff today (each feature's ``staff_today`` panel), then every staff page."""
    links = [link for group in hooks.call("staff_links") for link in group]
    panels = sorted(hooks.call("staff_today", db.session), key=lambda p: p.get("order", 50))
    return render_template("main/staff.html", links=links, panels=panels)
