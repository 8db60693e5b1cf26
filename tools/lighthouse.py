"""``make lighthouse``: Lighthouse 13 over every public page of the app started with the demo
data, in the four categories; exits 1 unless every score is 100.

Lighthouse's own settings are kept (a phone on a throttled connection). Its performance score
is measured on this machine's CPU, so on a busy host a page under 100 is run again (at most
``--tries`` times, default 5) and its best run counts; the other three categories do not vary.
Reports go to ``test-artifacts/lighthouse/`` (JSON), the table to standard output (Markdown).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from coop import ROOT
from tools.serve import demo_server, public_pages

LIGHTHOUSE = ROOT / ".lighthouse" / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
OUT = ROOT / "test-artifacts" / "lighthouse"


def audit(url: str, report: Path) -> dict | None:
    """One Lighthouse run: the parsed JSON report, or None when Lighthouse itself failed (it
    sometimes loses the trace on a busy host: "NO_NAVSTART")."""
    report.unlink(missing_ok=True)
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={report}",
         f"--only-categories={','.join(CATEGORIES)}",
         "--chrome-flags=--headless=new --no-sandbox"],
        check=False, env={**os.environ, "CHROME_PATH": CHROMIUM}, timeout=300)
    if done.returncode != 0 or not report.exists():
        return None
    result = json.loads(report.read_text())
    if result.get("runtimeError") or any(result["categories"][c]["score"] is None
                                         for c in CATEGORIES):
        return None
    return result


def scores(result: dict) -> dict[str, int]:
    return {name: round((result["categories"][name]["score"] or 0) * 100)
            for name in CATEGORIES}


def failures(result: dict) -> list[str]:
    """The audits that cost points: ``category: audit id (score)``."""
    found = []
    for name in CATEGORIES:
        for ref in result["categories"][name]["auditRefs"]:
            item = result["audits"][ref["id"]]
            if ref.get("weight") and item.get("score") is not None and item["score"] < 1:
                found.append(f"{name}: {ref['id']} ({item['score']}) {item.get('title', '')}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", nargs="*", help="paths to audit (default: every public page)")
    parser.add_argument("--tries", type=int, default=5,
                        help="runs of a page whose performance is under 100 (best counts)")
    args = parser.parse_args(argv)
    if not LIGHTHOUSE.exists():
        print(f"{LIGHTHOUSE} is missing: run `make lighthouse`", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    rows, problems = [], []
    with demo_server(OUT / "server.log") as server:
        base = server.url
        for path in args.pages or public_pages(base):
            name = path.strip("/").replace("/", "_") or "home"
            best, best_result = None, None
            for attempt in range(1, args.tries + 1):
                result = audit(base + path, OUT / f"{name}.json")
                if result is None:
                    print(f"  {path}: Lighthouse failed on try {attempt}", file=sys.stderr)
                    continue
                got = scores(result)
                if best is None or sum(got.values()) > sum(best.values()):
                    best, best_result = got, result
                if got["performance"] == 100 or min(
                        got[c] for c in CATEGORIES if c != "performance") < 100:
                    break
                print(f"  {path}: performance {got['performance']} on try {attempt}",
                      file=sys.stderr)
            if best is None:
                rows.append((path, dict.fromkeys(CATEGORIES, 0)))
                problems.append(f"{path}: Lighthouse failed on every try")
                continue
            rows.append((path, best))
            (OUT / f"{name}.json").write_text(json.dumps(best_result))  # the run that counts
            if min(best.values()) < 100:
                problems += [f"{path}: {line}" for line in failures(best_result)]
            print(f"{path}: " + ", ".join(f"{c} {best[c]}" for c in CATEGORIES),
                  file=sys.stderr, flush=True)
    print("| page | performance | accessibility | best practices | SEO |")
    print("|---|---:|---:|---:|---:|")
    for path, got in rows:
        print(f"| `{path}` | " + " | ".join(str(got[c]) for c in CATEGORIES) + " |")
    if problems:
        print("\nUnder 100:\n" + "\n".join(f"- {line}" for line in problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
