"""The demo data reproduces the paper's figures, and loading it twice adds nothing."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from coop.cli import load_seed_file
from coop.fund import seed, services
from coop.fund.models import Campaign, Entry

LOAD_DAY = dt.date(2026, 11, 13)


def test_seed_gives_the_papers_figures_and_is_idempotent(app, db):
    with app.test_request_context():
        data = load_seed_file("fund")
    assert data, "seeds/fund.toml is missing"
    summary = seed.load(db.session, data, LOAD_DAY)
    db.session.commit()
    assert "£6,572 of £18,000" in summary
    counts = (db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)),
              db.session.scalar(sa.select(sa.func.count()).select_from(Entry)))
    assert seed.load(db.session, data, LOAD_DAY) == "Fighting fund demo already loaded."
    db.session.commit()
    assert counts == (db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)),
                      db.session.scalar(sa.select(sa.func.count()).select_from(Entry)))
    assert counts[0] == 4

    current = services.current_campaign(db.session, LOAD_DAY)
    fig = services.figures_of(current)
    now = dt.datetime(2026, 11, 13, 12, tzinfo=dt.UTC)
    assert current.deadline == LOAD_DAY + dt.timedelta(days=17)
    assert (fig.raised_pence, fig.target_pence) == (657_200, 1_800_000)
    assert fig.percent == 36.5 and fig.remaining_pence == 1_142_800
    assert fig.countdown(now) == "17 days remaining"
    sources = set(db.session.scalars(sa.select(Entry.source).where(
        Entry.campaign_id == current.id)))
    assert len(sources) >= 4  # a realistic mix
    assert services.thanked_donors(db.session, current.id)  # some named donors allowed it

    past = services.past_campaigns(db.session, LOAD_DAY)
    assert len(past) == 3
    assert [services.figures_of(c).target_met for c in past].count(True) == 1
    assert all(c.deadline < current.opens_on for c in past)
    assert services.verify_totals(db.session) == (4, [])


def test_seed_command_shows_the_figures_on_the_site(app, runner):
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    assert "36.5%" in html and "£11,428" in html and "17 days remaining" in html
    assert runner.invoke(args=["seed"]).exit_code == 0
    assert client.get("/api/fund").get_json()["raised_pence"] == 657_200
