"""Corrections of corrections (review): a page holding a line and its corrections counts each
once, and a long chain is worked out without recursion."""
from __future__ import annotations

import sys

import pytest

from coop.extensions import db as _db
from coop.fund import services
from coop.fund.models import Campaign
from tests.fund.conftest import london_today


@pytest.fixture
def staff(login_as):
    return login_as("staff")


def _chain(app, campaign_id, depth):
    with app.app_context():
        campaign = _db.session.get(Campaign, campaign_id)
        day = london_today()
        gift = services.add_entry(_db.session, campaign, 5000, received_on=day, source="post")
        ids = [gift.id]
        last, sign = gift, -1
        for _ in range(depth):
            last = services.add_correction(_db.session, campaign, sign * 5000, reason="r",
                                           received_on=day, corrects=last)
            ids.append(last.id)
            sign = -sign
        _db.session.commit()
        return ids


def test_a_page_with_a_line_and_its_corrections_counts_each_once(app, campaign_id):
    a, c, d = _chain(app, campaign_id, 2)  # gift +50, reversal -50, reversal undone +50
    with app.app_context():
        alone = services.corrections_of(_db.session, [c])
        together = services.corrections_of(_db.session, [a, c, d])
    assert alone[c].by == (d,) and alone[c].pence == 5000
    assert together[c] == alone[c]
    assert together[a].pence == 0


def test_the_ledger_page_shows_each_correction_once(app, client, staff, campaign_id):
    a, c, d = _chain(app, campaign_id, 2)
    page = client.get(f"/staff/fund/{campaign_id}/ledger").get_data(as_text=True)
    row = page[page.find(f'id="entry-{c}"'):]
    row = row[:row.find("</tr>")]
    assert row.count(f"entry {d}</a>") == 1


@pytest.mark.slow
def test_a_long_chain_of_corrections(app, campaign_id):
    """Deeper than Python's recursion limit: was a RecursionError (a 500)."""
    ids = _chain(app, campaign_id, sys.getrecursionlimit() + 50)
    with app.app_context():
        found = services.corrections_of(_db.session, [ids[0]])
    assert found[ids[0]].by == (ids[1],)
    # +50, then -50 and +50 alternately: an odd count of corrections leaves it taken back
    assert found[ids[0]].pence == (-5000 if (len(ids) - 1) % 2 else 0)
