"""``GET /api/fund`` and ``GET /api/fund/<slug>``: the public figures as JSON."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify

from coop.access import access
from coop.cache import cached
from coop.db import now_utc
from coop.extensions import db
from coop.fund import services
from coop.fund.views import current_or_404
from coop.security import sessionless

bp = Blueprint("fund_api", __name__, url_prefix="/api/fund")


@bp.route("")
@access("public")
@sessionless
@cached()
def current():
    now = now_utc()
    return jsonify(current_or_404(now).as_json(now))


@bp.route("/<slug>")
@access("public")
@sessionless
@cached()
def campaign(slug: str):
    now = now_utc()
    fig = services.figures_for_slug(db.session, slug)
    if fig is None:
        abort(404, "There is no fighting fund campaign with that address.")
    return jsonify(fig.as_json(now))
