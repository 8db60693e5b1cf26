"""coop/extensions.py: the rate limiter counts POSTs only, and says so in one place."""

from __future__ import annotations

import ast
from pathlib import Path

from coop import ROOT

SIGNUP = {"email": "reader@example.org", "consent": "y"}


def _limit_calls():
    """Every ``….limit(...)``/``….shared_limit(...)`` called on the limiter in the app's code
    (as ``limiter`` or ``extensions.limiter``)."""
    for path in sorted((ROOT / "coop").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("limit", "shared_limit")):
                continue
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name == "limiter":
                yield Path(path).relative_to(ROOT), node


def test_every_rate_limit_counts_posts_only():
    """The limiter skips GET, HEAD and OPTIONS (coop.extensions): a limit declared for any
    of them would never be counted, so none may be."""
    calls = list(_limit_calls())
    assert len(calls) >= 9, calls  # events, accounts, newsletter and payments declare limits
    for path, call in calls:
        methods = {kw.arg: kw.value for kw in call.keywords}.get("methods")
        assert methods is not None, f"{path}:{call.lineno}: a limit without methods=[\"POST\"]"
        assert ast.literal_eval(methods) == ["POST"], f"{path}:{call.lineno}"


def test_posts_are_still_counted(client):
    """Skipping reads leaves posts counted: the sign-up's allowance runs out."""
    statuses = [client.post("/newsletter", data=SIGNUP).status_code for _ in range(30)]
    assert 429 in statuses


def test_a_limit_on_every_request_counts_reads_too(app):
    """With an operator's COOP_RATELIMIT_DEFAULT (or APPLICATION, META) set, the filter
    stands aside and reads are counted too. (Tested on the filter itself: the limiter is one
    object for every app in the process, and an app made with a default limit would leave it
    on every app made after.)"""
    from coop.extensions import LIMITS_ON_EVERY_REQUEST, _reading_is_not_limited

    for method, skipped in (("GET", True), ("HEAD", True), ("POST", False)):
        with app.test_request_context("/privacy", method=method):
            assert _reading_is_not_limited() is skipped
    for name in LIMITS_ON_EVERY_REQUEST:
        with app.test_request_context("/privacy"):
            app.config[name] = "2 per minute"
            try:
                assert _reading_is_not_limited() is False
            finally:
                del app.config[name]
