"""Fund fixtures: a campaign open today, and a helper to make more."""

from __future__ import annotations

import datetime as dt

import pytest

from coop.formatting import LONDON


def london_today() -> dt.date:
    return dt.datetime.now(LONDON).date()


@pytest.fixture
def make_campaign(app):
    """``make_campaign(slug=..., opens_on=..., deadline=..., target_pence=...)`` → saved id."""
    from coop.extensions import db
    from coop.fund import services

    def factory(slug: str = "this-month", *, name: str | None = None,
                target_pence: int = 1_800_000, opens_on: dt.date | None = None,
                deadline: dt.date | None = None, donate_url: str = "https://example.org/give",
                thank_you_text: str = ""):
        today = london_today()
        with app.app_context():
            campaign = services.create_campaign(
                db.session, name=name or f"Campaign {slug}", slug=slug,
                target_pence=target_pence,
                opens_on=opens_on or today - dt.timedelta(days=10),
                deadline=deadline or today + dt.timedelta(days=17),
                donate_url=donate_url, thank_you_text=thank_you_text,
            )
            db.session.commit()
            return campaign.id

    return factory


@pytest.fixture
def campaign_id(make_campaign):
    return make_campaign()
