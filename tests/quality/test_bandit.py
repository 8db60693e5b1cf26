"""bandit finds nothing of medium severity or above in coop/ (also run by `make lint`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from coop import ROOT


def bandit(*paths: str) -> dict:
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "bandit", "-q", "-r", *paths, "-c", str(ROOT / "pyproject.toml"),
         "--severity-level", "medium", "--format", "json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow  # make lint runs bandit too
def test_bandit_finds_nothing_medium_or_above():
    report = bandit("coop")
    assert not report["errors"], report["errors"]
    findings = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_severity']}: "
                f"{r['issue_text']}" for r in report["results"]]
    assert not findings, "\n".join(findings)


def test_bandit_would_see_a_finding(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import subprocess\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n")
    report = bandit(str(bad))
    assert any(r["test_id"] == "B602" for r in report["results"])
