"""An irreversible action needs its box ticked: without the tick the browser doesn't send the
form (nothing changes); with it, the action happens. Shown on revoking an API token."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in

pytestmark = pytest.mark.browser


def test_revoking_a_token_needs_the_tick(new_context):
    name = f"Danger {uuid.uuid4().hex[:6]}"
    page = new_context().new_page()
    log_in(page, "admin")
    page.goto("/admin/api-tokens")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create token").click()
    page.get_by_role("link", name="Back to API tokens").click()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("Active")

    revoke = row.get_by_role("button", name="Revoke")
    expect(revoke).to_have_class("danger")
    revoke.click()  # no tick: the browser asks for it and sends nothing
    assert row.get_by_role("checkbox").evaluate("box => box.validity.valueMissing")
    page.reload()
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("Active")

    row = page.get_by_role("row").filter(has_text=name)
    row.get_by_role("checkbox").check()
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text(f"Revoked the token “{name}”: it no longer works.")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("Revoked")
