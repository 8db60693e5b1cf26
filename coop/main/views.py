"""The home page, the health check, the favicon and the staff dashboard."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from coop import hooks
from coop.access import access
from coop.cache import cached
from coop.extensions import db
from coop.security import sessionless

bp = Blueprint("main", __name__)


@bp.route("/")
@access("public")
@cached()
def index():
    sections = hooks.call("home_sections", db.session)
    return render_template("main/index.html", sections=sections)


#: how long browsers and caches may keep the favicon (a week: it changes about never)
FAVICON_MAX_AGE = 7 * 24 * 3600


@bp.route("/favicon.ico")
@access("public")
@sessionless
def favicon():
    """The SVG mark at the address browsers and feed readers ask for without looking at the
    page (every page also names it with ``<link rel="icon">``). Sent from memory, with an
    ``ETag`` for revalidation."""
    response = current_app.response_class(_file_bytes(current_app.static_folder, "favicon.svg"),
                                          mimetype="image/svg+xml")
    response.cache_control.public = True
    response.cache_control.max_age = FAVICON_MAX_AGE
    response.add_etag()
    return response.make_conditional(request)


@functools.cache
def _file_bytes(folder: str, name: str) -> bytes:
    return (Path(folder) / name).read_bytes()


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
