"""coop/extensions.py: the rate limiter counts POSTs only, and says so in one place."""

from __future__ import annotations

import ast
from pathlib import Path

from coop import ROOT
from coop.extensions import READING

SIGNUP = {"email": "reader@example.org", "consent": "y"}


def _limit_calls():
    """Every ``limiter.limit(...)``/``limiter.shared_limit(...)`` in the app's code."""
    for path in sorted((ROOT / "coop").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("limit", "shared_limit")
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "limiter"):
                yield Path(path).relative_to(ROOT), node


def test_every_rate_limit_counts_posts_only():
    """The limiter skips GET, HEAD and OPTIONS (coop.extensions): a limit declared for any
    of them would never be counted, so none may be."""
    calls = list(_limit_calls())
    assert len(calls) >= 9, calls  # events, accounts, newsletter and payments declare limits
    for path, call in calls:
        methods = {kw.arg: kw.value for kw in call.keywords}.get("methods")
        assert methods is not None, f"{path}:{call.lineno}: a limit without methods=[\"POST\"]"
        declared = ast.literal_eval(methods)
        assert declared == ["POST"], f"{path}:{call.lineno}: methods={declared}"
        assert not set(declared) & READING


def test_reads_are_not_counted_but_posts_are(client):
    """Reading the sign-up page many times uses none of its POST allowance; posting does."""
    for _ in range(30):
        assert client.get("/newsletter").status_code == 200
    statuses = [client.post("/newsletter", data=SIGNUP).status_code for _ in range(30)]
    assert 429 in statuses
