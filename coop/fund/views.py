"""Public fund pages: /fund, /fund/archive, /fund/<slug>, the embeddable widget and badge.

The figures come from the per-process cache (:mod:`coop.fund.cache`), never from an ORM
query per request. The widget, badge and JSON are cacheable: ETag, a short max-age, 304 on a
matching ``If-None-Match``, and no session (so no cookie and no ``Vary: Cookie``).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask.globals import request_ctx
from markupsafe import Markup

from coop.access import access
from coop.db import now_utc
from coop.extensions import db
from coop.fund import cache, chart, fastpath, services
from coop.fund.figures import CampaignFigures, london_today
from coop.pagecache import anonymous_cache
from coop.security import frameable

bp = Blueprint("fund", __name__)


# ---------------------------------------------------------------------------------------------
# Helpers shared with the JSON API


def forget_session() -> None:
    """Serve this response without the session: nothing reads or writes it afterwards (not
    even Flask-Login's remember-me check), so there's no Set-Cookie and no Vary: Cookie."""
    request_ctx._session = current_app.session_interface.make_null_session(current_app)


def cacheable(body: bytes | str, etag: str, mimetype: str) -> Response:
    """A public, shared-cacheable response; 304 when the client already has this version."""
    max_age = current_app.config.get("FUND_PUBLIC_MAX_AGE", 30)
    headers = {"ETag": f'"{etag}"', "Cache-Control": f"public, max-age={max_age}"}
    if request.if_none_match.contains_weak(etag):
        return Response(status=304, headers=headers)
    response = Response(body, mimetype=mimetype, headers=headers)
    if not request.query_string:
        response.headers[fastpath.MARKER] = etag  # the WSGI layer may keep this response
    return response


def current_or_404(now: dt.datetime) -> CampaignFigures:
    forget_session()
    fig = cache.current_figures(london_today(now))
    if fig is None:
        abort(404, "There is no fighting fund campaign open or coming up.")
    return fig


def page_details(fig: CampaignFigures, now: dt.datetime) -> dict:
    """The chart, the tally table, raised today/this week and the thanks list for a campaign
    page, from the process's running tally of the ledger (see :mod:`coop.fund.tally`)."""
    today = london_today(now)
    keeper = current_app.extensions["coop.fund.tally"]
    tally = keeper.get(db.engine, fig.id, count=fig.entry_count)
    daily = tally.daily_rows()
    rows = chart.tally_rows(fig, daily, today)
    return {
        "chart": chart.build_chart(fig, rows),
        "thanks": tally.thanks,
        "raised_today": chart.received_between(daily, today, today),
        "raised_week": chart.received_between(
            daily, max(chart.week_start(today), fig.opens_on), today),
    }


def _page(fig: CampaignFigures, now: dt.datetime, *, current: bool) -> str:
    """The campaign page: the layout (which depends on who is looking) around the fund's
    content, which is the same for everyone and rendered once per version of the figures."""

    def build():
        return Markup(render_template(  # noqa: S704  # nosec B704 - autoescaped template
            "fund/_campaign_body.html", fund=fig, now=now, state=fig.status(now),
            current=current, **page_details(fig, now)))

    body = cache.memo(("page", fig.etag_key(now), current), build)
    return render_template("fund/campaign.html", fund=fig, body=body)


# ---------------------------------------------------------------------------------------------
# Pages


@bp.route("/fund")
@access("public")
@anonymous_cache
def index():
    """This month's fund: the bar, the countdown, the chart and the thanks."""
    now = now_utc()
    fig = cache.current_figures(london_today(now))
    if fig is None:
        return render_template("fund/none.html")
    return _page(fig, now, current=True)


@bp.route("/fund/archive")
@access("public")
def archive():
    """Past campaigns: raised, target and whether the target was met."""
    now = now_utc()
    campaigns = [services.figures_of(c)
                 for c in services.past_campaigns(db.session, london_today(now))]
    return render_template("fund/archive.html", campaigns=campaigns, now=now)


@bp.route("/fund/widget")
@access("public")
@frameable
def widget():
    """A minimal panel for article pages to put in an iframe. Read-only; sets no cookie.

    :raise 404: when no campaign is open or coming up.
    """
    now = now_utc()
    fig = current_or_404(now)
    etag = "w-" + fig.etag_key(now)
    body = cache.memo(("widget", etag),
                      lambda: render_template("fund/widget.html", fund=fig, now=now))
    response = cacheable(body, etag, "text/html")
    return response


@bp.route("/fund/badge.svg")
@access("public")
def badge():
    """A small SVG progress badge with its text, for an ``<img>``."""
    now = now_utc()
    fig = current_or_404(now)
    etag = "b-" + fig.etag_key(now)
    body = cache.memo(("badge", etag),
                      lambda: render_template("fund/badge.svg", fund=fig, now=now))
    return cacheable(body, etag, "image/svg+xml")


@bp.route("/fund/<slug>")
@access("public")
def campaign(slug: str):
    """One campaign's page, past or present.

    :raise 404: no campaign has that address.
    """
    now = now_utc()
    fig = cache.figures_for_slug(slug)
    if fig is None:
        abort(404)
    current = cache.current_figures(london_today(now))
    return _page(fig, now, current=current is not None and current.id == fig.id)


def home_panel(_session) -> dict | None:
    """The fund panel on ``/`` (the "home_sections" hook)."""
    now = now_utc()
    fig = cache.current_figures(london_today(now))
    if fig is None:
        return None
    html = cache.memo(("panel", fig.etag_key(now)), lambda: Markup(render_template(  # noqa: S704  # nosec B704
        "fund/_home_panel_body.html", fund=fig, now=now, state=fig.status(now))))
    return {"template": "fund/_home_panel.html", "html": html, "fund": fig,
            "stylesheets": ["fund.css"]}
