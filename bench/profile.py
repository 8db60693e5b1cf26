"""CPU cost per request, in-process, beside the hello-world app; and where the time goes.

``python -m bench.profile [--entries N] [--database sqlite|postgresql] [--cprofile PATH]``

wrk's requests/s depend on everything else the machine is doing; the CPU time a request
costs does not, much. This calls each app's WSGI callable directly (no server, no sockets)
many times and reports CPU microseconds per request, so the ratio to hello-world can be
checked on a busy machine; ``--cprofile`` prints the top functions for one path.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from werkzeug.test import EnvironBuilder


def cpu_per_request(app, path: str, seconds: float) -> tuple[float, int, int]:
    """(CPU µs per request, status of the last answer, requests made)."""
    base = EnvironBuilder(path=path, base_url="http://127.0.0.1:8000").get_environ()
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
    parser.add_argument("--cprofile", default=None, help="a path to profile with cProfile")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="coop-profile-") as tmp:
        bench_args = argparse.Namespace(pg_url=args.pg_url, events=args.events)
        db, ledger = run.prepare(args.database, args.entries, bench_args, Path(tmp))
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
        hello_us, _, _ = cpu_per_request(hello, "/", args.seconds)
        print(f"{'hello-world':<18} {hello_us:8.0f} µs CPU/request  (100%)")
        for path in args.paths.split(","):
            us, code, count = cpu_per_request(app, path, args.seconds)
            print(f"{path:<18} {us:8.0f} µs CPU/request  ({100 * hello_us / us:5.1f}% of "
                  f"hello's rate)  status {code}, {count} requests", flush=True)
        if args.cprofile:
            profiler = cProfile.Profile()
            profiler.enable()
            cpu_per_request(app, args.cprofile, args.seconds)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
