"""Dismissing a notice: a small form, no JavaScript; a cookie remembers notice and version."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request

from coop.access import access
from coop.extensions import db
from coop.notices import services
from coop.notices.models import Notice
from coop.security import is_safe_next

bp = Blueprint("notices", __name__)

COOKIE = "dismissed_notices"
#: a year: the cookie only holds notice ids and versions
COOKIE_MAX_AGE = 365 * 24 * 3600


@bp.route("/notices/<int:notice_id>/dismiss", methods=["POST"])
@access("public")
def dismiss(notice_id: int):
    """Hide this version of a notice for this browser, then go back to the page (local only).

    :raise 404: for a notice that doesn't exist.
    """
    notice = db.session.get(Notice, notice_id)
    if notice is None:
        abort(404)
    target = request.form.get("next", "")
    response = redirect(target if is_safe_next(target) else "/")
    response.set_cookie(
        COOKIE, services.add_dismissed(request.cookies.get(COOKIE), notice),
        max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
        secure=current_app.config["COOP_ENV"] == "production", path="/",
    )
    return response
