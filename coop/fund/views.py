"""Public fund pages: /fund, /fund/archive, /fund/<slug>, the embeddable widget and badge.

The figures come from :func:`coop.fund.services.current_figures` (kept under the cache's
freshness rule); the pages and embeds are kept whole by the response cache (:mod:`coop.cache`)
for anonymous readers.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, current_app, render_template

from coop.access import access
from coop.cache import cached
from coop.db import now_utc
from coop.extensions import db
from coop.fund import chart, embed, services
from coop.fund.api import current_or_404
from coop.fund.figures import CampaignFigures
from coop.security import frameable, sessionless
from coop.timeutil import london_today

bp = Blueprint("fund", __name__)


def page_details(fig: CampaignFigures, now: dt.datetime) -> dict:
    """The chart, the tally table, raised today/this week and the thanks list for a campaign
    page, from the process's running tally of the ledger (see :mod:`coop.fund.tally`)."""
    today = london_today(now)
    keeper = current_app.extensions["coop.fund.tally"]
    tally = keeper.get(db.engine, fig.id, count=fig.entry_count,
                       thanks_version=fig.thanks_version)
    daily = tally.daily_rows()
    rows = chart.tally_rows(fig, daily, today)
    return {
        "chart": chart.build_chart(fig, rows),
        "small_chart": chart.build_chart(fig, rows, chart.NARROW),
        "thanks": tally.thanks,
        "raised_today": chart.received_between(daily, today, today),
        "raised_week": chart.received_between(
            daily, max(chart.week_start(today), fig.opens_on), today),
    }


def _page(fig: CampaignFigures, now: dt.datetime, *, current: bool) -> str:
    return render_template("fund/campaign.html", fund=fig, now=now, state=fig.status(now),
                           current=current, **page_details(fig, now))


@bp.route("/fund")
@access("public")
@cached()
def index():
    """This month's fund: the bar, the countdown, the chart and the thanks."""
    now = now_utc()
    fig = services.current_figures(db.session, london_today(now))
    if fig is None:
        return render_template("fund/none.html")
    return _page(fig, now, current=True)


@bp.route("/fund/archive")
@access("public")
@cached()
def archive():
    """Past campaigns: raised, target and whether the target was met."""
    now = now_utc()
    campaigns = [services.figures_of(c)
                 for c in services.past_campaigns(db.session, london_today(now))]
    return render_template("fund/archive.html", campaigns=campaigns, now=now)


@bp.route("/fund/widget")
@access("public")
@frameable
@sessionless
@cached()
def widget():
    """A minimal panel for article pages to put in an iframe. Read-only; sets no cookie.

    :raise 404: when no campaign is open or coming up.
    """
    now = now_utc()
    return render_template("fund/widget.html", fund=current_or_404(now), now=now,
                           snippet=embed.widget_snippet())


@bp.route("/fund/badge.svg")
@access("public")
@sessionless
@cached()
def badge():
    """A small SVG progress badge with its text, for an ``<img>``."""
    now = now_utc()
    body = render_template("fund/badge.svg", fund=current_or_404(now), now=now)
    return Response(body, mimetype="image/svg+xml")


@bp.route("/fund/<slug>")
@access("public")
@cached()
def campaign(slug: str):
    """One campaign's page, past or present.

    :raise 404: no campaign has that address.
    """
    now = now_utc()
    fig = services.figures_for_slug(db.session, slug)
    if fig is None:
        abort(404)
    current = services.current_figures(db.session, london_today(now))
    return _page(fig, now, current=current is not None and current.id == fig.id)


def home_panel(_session) -> dict | None:
    """The fund panel on ``/`` (the "home_sections" hook)."""
    now = now_utc()
    fig = services.current_figures(db.session, london_today(now))
    if fig is None:
        return None
    return {"template": "fund/_home_panel.html", "fund": fig, "now": now,
            "state": fig.status(now)}
