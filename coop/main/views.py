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
    """``{"status": "ok", "database": "ok"}``, or 503 with ``"database": "unavailable"``."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="degraded", database="unavailable"), 503, {"Retry-After": "30"}
    return jsonify(status="ok", database="ok")


@bp.route("/staff")
@access("staff")
def staff_dashboard():
    links = [link for group in hooks.call("staff_links") for link in group]
    return render_template("main/staff.html", links=links)
