"""``GET /api/fund`` and ``GET /api/fund/<slug>``: the public figures as JSON.

Exactly these fields: slug, name, currency, raised_pence, target_pence, remaining_pence,
percent, days_remaining, opens_on, deadline, status, target_met, updated_at. The body is
built once per version of the figures (and day); a request costs a cache lookup.
"""

from __future__ import annotations

import json

from flask import Blueprint, abort

from coop.access import access
from coop.db import now_utc
from coop.fund import cache
from coop.fund.figures import CampaignFigures
from coop.fund.views import cacheable, current_or_404, forget_session

bp = Blueprint("fund_api", __name__, url_prefix="/api/fund")


def _json(fig: CampaignFigures, now) -> object:
    etag = "j-" + fig.etag_key(now)
    body = cache.memo(("json", etag), lambda: json.dumps(
        fig.as_json(now), ensure_ascii=False, separators=(",", ":")).encode())
    return cacheable(body, etag, "application/json")


@bp.route("")
@access("public")
def current():
    """The open campaign, else the next upcoming one.

    :raise 404: (JSON) when there is neither.
    """
    now = now_utc()
    return _json(current_or_404(now), now)


@bp.route("/<slug>")
@access("public")
def campaign(slug: str):
    """Any campaign by its slug.

    :raise 404: (JSON) no such campaign.
    """
    forget_session()
    now = now_utc()
    fig = cache.figures_for_slug(slug)
    if fig is None:
        abort(404, "There is no fighting fund campaign with that address.")
    return _json(fig, now)
