"""Staff type a day's post of 25 gifts in three goes ("Add 10 more lines" twice), check the
total against the paying-in slip, save, and find every line in the ledger. (It adds to the
demo campaign, so it runs after test_fund.py, which checks the demo figures first.)"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in

pytestmark = pytest.mark.browser


def _fill(page, numbers, tag):
    for n in numbers:
        page.get_by_label(f"Amount (£), line {n}", exact=True).fill(f"{n}.{n:02d}")
        page.get_by_label(f"Name, line {n}", exact=True).fill(f"{tag} {n:02d}")
        page.get_by_label(f"Town, line {n}", exact=True).fill("Leeds")
        if n % 2:
            page.get_by_label(f"Line {n}: Yes", exact=True).check()


def test_a_days_post_of_25_lines_typed_in_three_goes_is_saved_whole(new_context, live_server):
    tag = f"Batch {uuid.uuid4().hex[:6]}"
    page = new_context().new_page()
    log_in(page, "staff")
    page.goto("/staff/fund")
    page.get_by_role("link", name="Add a day’s post").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a day’s post")
    expect(page.get_by_label("Amount (£), line 10", exact=True)).to_be_visible()
    expect(page.get_by_label("Amount (£), line 11", exact=True)).to_have_count(0)

    _fill(page, range(1, 11), tag)
    page.get_by_role("button", name="Add 10 more lines").click()
    expect(page.get_by_label("Amount (£), line 20", exact=True)).to_be_visible()
    # nothing typed was lost, and the page is at the new lines
    expect(page.get_by_label("Name, line 7", exact=True)).to_have_value(f"{tag} 07")
    expect(page.get_by_label("Line 7: Yes", exact=True)).to_be_checked()
    expect(page.get_by_label("Amount (£), line 11", exact=True)).to_be_in_viewport()
    _fill(page, range(11, 21), tag)
    page.get_by_role("button", name="Add 10 more lines").click()
    expect(page.get_by_label("Amount (£), line 30", exact=True)).to_be_visible()
    _fill(page, range(21, 26), tag)

    expected = sum(n * 101 for n in range(1, 26))  # n pounds and n pence each
    pounds = f"£{expected // 100:,}.{expected % 100:02d}"
    page.get_by_role("button", name="Check total").click()
    status = page.get_by_role("status").filter(has_text="with an amount")
    expect(status).to_contain_text(f"25 lines with an amount, totalling {pounds}")
    expect(status).to_be_in_viewport()
    for n in (1, 13, 25):
        expect(page.get_by_label(f"Amount (£), line {n}", exact=True)).to_have_value(
            f"{n}.{n:02d}")

    page.get_by_role("button", name="Add all these gifts").click()
    expect(page.get_by_text(f"Added 25 gifts totalling {pounds}")).to_be_visible()

    page.get_by_role("link", name="Ledger").first.click()
    rows = page.get_by_role("row").filter(has_text=tag)
    expect(rows).to_have_count(25)
    seen = {}
    for text in rows.all_inner_texts():
        number = int(re.search(rf"{tag} (\d\d)", text).group(1))
        amount = re.search(r"£([\d,]+\.\d\d)", text).group(1).replace(",", "")
        seen[number] = round(float(amount) * 100)
        assert ("(thanked by name)" in text) == bool(number % 2), text
    assert seen == {n: n * 101 for n in range(1, 26)}
    assert sum(seen.values()) == expected
