"""Dismissing a notice: a small form, no JavaScript; a cookie remembers notice and version."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request

from coop.access import access
from coop.extensions import db
from coop.notices import services
from coop.notices.models import Notice
from coop.security import is_safe_next, referring_page, same_origin_request

bp = Blueprint("notices", __name__)

COOKIE = "dismissed_notices"
#: a year: the cookie only holds notice ids and versions
COOKIE_MAX_AGE = 365 * 24 * 3600


@bp.route("/notices/<int:notice_id>/dismiss", methods=["POST"])
@access("public")
def dismiss(notice_id: int):
    """Hide this version of a notice for this browser, then go back to the page (local only).

    The button is on pages kept whole for every reader, so it carries no CSRF token; a post
    from another site is refused by its ``Origin`` (or ``Sec-Fetch-Site``) instead. At worst
    a forged post could only hide a notice.

    :raise 403: for a post from another site. 404: for a notice that doesn't exist.
    """
    if not same_origin_request():
        abort(403)
    notice = db.session.get(Notice, notice_id)
    if notice is None:
        abort(404)
    target = request.form.get("next", "")
    # the form names the page's path only (it is kept whole for every reader, whatever the
    # query string): the query (?page=2, a staff filter) comes back from the Referer
    back = referring_page()
    if back is not None and back.split("?")[0] == target:
        target = back
    response = redirect(target if is_safe_next(target) else "/")
    response.set_cookie(
        COOKIE, services.add_dismissed(request.cookies.get(COOKIE), notice),
        max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
        secure=current_app.config["COOP_ENV"] == "production", path="/",
    )
    return response
