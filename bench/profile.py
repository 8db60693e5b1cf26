"""CPU cost per request, in-process, beside the hello-world app; and where the time goes.

``python -m bench.profile [--entries N] [--database sqlite|postgresql] [--repeat N]
[--workdir DIR] [--save-bodies DIR] [--cprofile PATH]``

wrk's requests/s depend on everything else the machine is doing; the CPU time a request
costs does not, much. This calls each app's WSGI callable directly (no server, no sockets)
many times and reports CPU microseconds per request, so the ratio to hello-world can be
checked on a busy machine (``--repeat 3`` measures each path three times and keeps the
lowest, the figure least disturbed by other work); ``--cprofile`` prints the top functions for
one path. ``--workdir`` keeps the prepared database and reuses it on the next run;
``--save-bodies`` writes each page's body to a file, to compare two versions byte for byte.
``--calls`` adds the Python function calls a request makes: unlike CPU time it doesn't move
with the machine's load, so two versions of the code can be compared on a noisy machine (a
call count is not a cost: C work such as SQLite's or Markupsafe's escaping counts one call).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from werkzeug.test import EnvironBuilder

#: the host the bench's apps trust (a request for any other is refused)
BASE_URL = "http://127.0.0.1:8000"


def _requester(app, path: str):
    """A function making one request for ``path``, and the dict its status goes into."""
    base = EnvironBuilder(path=path, base_url=BASE_URL).get_environ()
    status = {}

    def start_response(code, headers, exc_info=None):
        status["code"] = int(code.split()[0])

    def once():
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO()
        body = app(environ, start_response)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()

    return once, status


def cpu_per_request(app, path: str, seconds: float) -> tuple[float, int, int]:
    """(CPU µs per request, status of the last answer, requests made)."""
    once, status = _requester(app, path)
    for _ in range(50):  # warm: imports, templates, caches
        once()
    count = 0
    started_cpu = time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(50):
            once()
        count += 50
    used = time.process_time() - started_cpu
    return used / count * 1e6, status.get("code", 0), count


def calls_per_request(app, path: str, requests: int = 100) -> float:
    """Python function calls per request (cProfile's count, after warming up)."""
    once, _status = _requester(app, path)
    for _ in range(50):
        once()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        once()
    profiler.disable()
    return pstats.Stats(profiler).total_calls / requests


def prepared(args: argparse.Namespace, workdir: Path) -> tuple:
    """The bench database (run.prepare), or the one kept in ``workdir`` by an earlier run."""
    from bench import run

    marker = workdir / f"prepared-{args.database}-{args.entries}-{args.events}.json"
    if marker.exists():
        saved = json.loads(marker.read_text())
        return run.Database(**saved["database"]), saved["ledger"]
    bench_args = argparse.Namespace(pg_url=args.pg_url, events=args.events)
    db, ledger = run.prepare(args.database, args.entries, bench_args, workdir)
    if args.workdir:
        marker.write_text(json.dumps({"database": dataclasses.asdict(db), "ledger": ledger}))
    return db, ledger


def save_bodies(app, paths: list[str], directory: Path) -> None:
    """Each path's body as ``app`` answers it, in ``directory`` (``/events/past`` →
    ``events_past.html``), for comparing two versions of the code byte for byte."""
    directory.mkdir(parents=True, exist_ok=True)
    client = app.test_client(use_cookies=False)
    for path in paths:
        name = path.strip("/").replace("/", "_").replace(".", "_") or "index"
        body = client.get(path, base_url=BASE_URL).get_data()
        (directory / f"{name}.html").write_bytes(body)


def _calls_text(app, path: str, hello_calls: float | None) -> str:
    if hello_calls is None:
        return ""
    calls = calls_per_request(app, path)
    return f", {calls:,.0f} calls ({calls / hello_calls:.1f}× hello's)"


def main(argv=None) -> int:
    from bench import run
    from bench.hello import app as hello

    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--entries", type=int, default=10)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                           run.DEFAULT_PG_URL))
    parser.add_argument("--seconds", type=float, default=3.0, help="per path (3)")
    parser.add_argument("--paths", default=",".join(run.PATHS))
    parser.add_argument("--through-flask", action="store_true",
                        help="COOP_CACHE_RESPONSES=false: every request goes through Flask (as "
                             "for a logged-in reader); kept values (figures, notices) stay")
    parser.add_argument("--no-cache", action="store_true",
                        help="COOP_CACHE_SECONDS=0: nothing kept at all")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each path this many times and keep the lowest (1)")
    parser.add_argument("--workdir", default=None,
                        help="keep the prepared database here and reuse it when present")
    parser.add_argument("--save-bodies", default=None,
                        help="write each path's response body into this directory")
    parser.add_argument("--calls", action="store_true",
                        help="also count Python function calls per request (steady under load)")
    parser.add_argument("--cprofile", default=None, help="a path to profile with cProfile")
    parser.add_argument("--sort", default="cumulative",
                        help="how --cprofile orders functions (cumulative; tottime)")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        if args.workdir:
            workdir = Path(args.workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="coop-profile-")))
        db, ledger = prepared(args, workdir)
        print(f"{args.database}: {ledger['entries']:,} entries, {ledger['events']:,} events",
              flush=True)
        os.environ.update({k: v for k, v in db.env.items() if k.startswith(("COOP_", "SECRET",
                                                                            "DATABASE"))})
        if args.through_flask:
            os.environ["COOP_CACHE_RESPONSES"] = "false"
        if args.no_cache:
            os.environ["COOP_CACHE_SECONDS"] = "0"
        from coop import create_app

        app = create_app()
        hello_us = min(cpu_per_request(hello, "/", args.seconds)[0] for _ in range(args.repeat))
        hello_calls = calls_per_request(hello, "/") if args.calls else None
        print(f"{'hello-world':<18} {hello_us:8.0f} µs CPU/request  (100%)"
              + (f"  {hello_calls:,.0f} calls" if args.calls else ""))
        for path in args.paths.split(","):
            runs = [cpu_per_request(app, path, args.seconds) for _ in range(args.repeat)]
            us, code, _ = min(runs)
            count = sum(r[2] for r in runs)
            print(f"{path:<18} {us:8.0f} µs CPU/request  ({100 * hello_us / us:5.1f}% of "
                  f"hello's rate, {us / hello_us:5.1f}× hello's CPU)  status {code}, "
                  f"{count} requests" + _calls_text(app, path, hello_calls), flush=True)
        if args.save_bodies:
            save_bodies(app, args.paths.split(","), Path(args.save_bodies))
        if args.cprofile:
            profiler = cProfile.Profile()
            profiler.enable()
            cpu_per_request(app, args.cprofile, args.seconds)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(45)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
