"""The register in a browser: the demo member sees their membership and downloads a
certificate; staff find a member, refuse a bad withdrawal, allot shares, export the register."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def test_member_sees_membership_and_downloads_a_certificate(new_context):
    page = new_context(phone=True).new_page()
    log_in(page, "member")
    page.goto("/account")
    membership = page.get_by_role("region", name="Your membership of the society")
    expect(membership).to_contain_text("000001")
    expect(membership).to_contain_text("150 (£150)")
    membership.get_by_role("link", name="No. 000001").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Share certificate")
    expect(page.get_by_text(re.compile(r"Mo Member, membership number 000001"))).to_be_visible()
    screenshot(page, "certificate")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download as PDF").click()
    download = info.value
    assert download.suggested_filename == "share-certificate-000001.pdf"
    with open(download.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"


def test_staff_work_the_register(new_context):
    page = new_context().new_page()
    log_in(page, "staff")
    page.goto("/staff/register")
    page.get_by_label("Name, email or membership number").fill("Kwame")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="000003").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Member 000003: Kwame Mensah")
    page.get_by_role("link", name="Withdraw shares").click()
    page.get_by_label("Number of £1 shares to withdraw").fill("20")
    page.get_by_label(re.compile("I have checked this withdrawal")).check()
    page.get_by_role("button", name="Withdraw shares").click()
    expect(page.get_by_text("Nothing was saved")).to_be_visible()
    expect(page.get_by_text(re.compile("To take every share, cease the membership"))
           .first).to_be_visible()
    page.get_by_role("link", name=re.compile("^Member 000003: ")).click()
    page.get_by_role("link", name="Allot shares").click()
    page.get_by_label("Number of £1 shares").fill("30")
    page.get_by_role("button", name="Allot shares").click()
    expect(page.get_by_text(re.compile("Allotted 30 shares to member 000003"))).to_be_visible()
    screenshot(page, "staff-register-member")
    page.get_by_role("link", name="Register of members").click()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the register (CSV)").click()
    with open(info.value.path(), encoding="utf-8-sig") as fh:
        text = fh.read()
    assert text.startswith("Membership number,Name,Postal address,Email,Shares held")
    assert "Kwame Mensah" in text
