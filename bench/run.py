"""``make bench``: coop under gunicorn on 127.0.0.1, loaded with wrk beside a hello-world app.

For each database (SQLite, and PostgreSQL when reachable) it builds a fresh migrated
database with the demo data and 10,000 events for each ledger size (10 and 1,000,000
entries, bulk-loaded), and serves them all at once with gunicorn (2 sync workers; gthread to
compare), beside the minimal Flask app in bench/hello.py with the same settings. Then, in
rounds, ``wrk -t2 -c64 --latency`` runs against hello-world and against each path on each
ledger in turn (the fund's JSON, badge, widget and page, the home page and /events), so the
small and the big ledger meet the same moments of the machine's drift; each figure is the
median of three rounds. Last, a mixed reader load runs on each ledger while a staff member
posts gifts through the site's forms, and ``fund-verify`` must agree afterwards. Every
figure is shown as a percentage of hello-world and checked against the targets of the fund
and events issues.

Only 127.0.0.1 is bound; every wrk run and server start has a deadline; every process it
starts is stopped at the end, whatever happens. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
RESULTS = BENCH / "results"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/coop_bench"
STAFF_EMAIL = "bench-staff@example.org"
STAFF_PASSWORD = secrets.token_urlsafe(18)

#: the pages measured one at a time, in the order of the table
PATHS = ("/api/fund", "/fund/badge.svg", "/fund/widget", "/fund", "/", "/events")
#: what the mixed reader load cycles through (article pages embed the widget and badge)
MIXED_PATHS = ("/fund/widget", "/fund/badge.svg", "/api/fund", "/fund/widget", "/",
               "/fund", "/events", "/fund/badge.svg")
#: at least 90% of hello-world's requests/s
EMBED_PATHS = ("/api/fund", "/fund/badge.svg", "/fund/widget")
#: at least 50%
PAGE_PATHS = ("/fund", "/", "/events")
#: the fund issue's figures that must not move with the ledger's size (within 10%)
FUND_PATHS = ("/api/fund", "/fund/badge.svg", "/fund/widget", "/fund")
WORKER_SETTINGS = {
    "sync": ["--workers", "2", "--worker-class", "sync"],
    "gthread": ["--workers", "2", "--worker-class", "gthread", "--threads", "4"],
}
STARTUP_SECONDS = 60


# --------------------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n"
                               + log.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {seconds:.0f}s:\n"
                               + log.read_text(errors="replace")[-3000:])
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@contextlib.contextmanager
def gunicorn(app: str, workers: str, env: dict, log: Path, health: str):
    """Serve ``app`` on a free 127.0.0.1 port; yield the base URL; stop it afterwards."""
    port = free_port()
    command = [str(BIN / "gunicorn"), *WORKER_SETTINGS[workers],
               "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
               "--worker-tmp-dir", "/dev/shm" if Path("/dev/shm").is_dir() else "/tmp",  # noqa: S108
               "--error-logfile", "-", app]
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + health, process, log, STARTUP_SECONDS)
        yield base
    finally:
        stop(process)


def flask(env: dict, *args: str, stdin: str | None = None, timeout: float = 300) -> str:
    result = subprocess.run([str(BIN / "flask"), "--app", "coop", *args], cwd=ROOT, env=env,
                            input=stdin, capture_output=True, text=True, timeout=timeout,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# --------------------------------------------------------------------------- wrk

@dataclass
class Result:
    database: str
    workers: str
    entries: int
    path: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    non_2xx: int
    notes: str = ""
    writes: int = 0
    write_errors: int = 0
    extra: dict = field(default_factory=dict)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict:
    """requests/s, p50, p99 (ms), requests, socket errors and non-2xx/3xx answers."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    socket_errors = 0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      output)
    if match:
        socket_errors = sum(int(g) for g in match.groups())
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    non_2xx = int(match.group(1)) if match else 0
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "requests": requests,
            "errors": socket_errors + non_2xx, "non_2xx": non_2xx}


def wrk(url: str, args: argparse.Namespace, *, script: Path | None = None,
        env: dict | None = None) -> dict:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
               "--latency", "--timeout", "2s"]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    idle_before = idle_percent()
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            timeout=args.duration + 30, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed: {result.stderr or result.stdout}")
    return parse_wrk(result.stdout) | {"extra": {"idle_before": idle_before}}


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)  # idle + iowait, total


def idle_percent(seconds: float = 0.5) -> float:
    """How idle the machine is just before a run (our servers are idle then): well under
    100% means something else was competing for the CPU and the figure is suspect."""
    try:
        idle1, total1 = _cpu_times()
        time.sleep(seconds)
        idle2, total2 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return -1.0
    return round(100 * (idle2 - idle1) / max(total2 - total1, 1), 1)


def warm_up(base: str, paths) -> None:
    """Imports, template compilation and caches (a million-entry ledger's first tally) happen
    before timing, in every worker: a few requests per path, then a short concurrent burst so
    each worker has taken some."""
    for path in paths:
        for _ in range(5):
            with contextlib.suppress(urllib.error.URLError):
                urllib.request.urlopen(base + path, timeout=60).read()  # noqa: S310
        subprocess.run(["wrk", "-t2", "-c8", "-d2s", "--timeout", "30s", base + path],  # noqa: S603, S607
                       capture_output=True, timeout=60, check=False)


# --------------------------------------------------------------------------- staff writer

class StaffWriter(threading.Thread):
    """A staff member posting gifts through the site's own form while readers load it."""

    def __init__(self, base: str, rate: float, campaign_id: int):
        super().__init__(daemon=True)
        self.base = base
        self.path = f"/staff/fund/{campaign_id}/gifts/new"
        self.interval = 1.0 / rate
        self.stopping = threading.Event()
        self.writes = 0
        self.errors = 0
        self.amount_pence = 0
        self.problems: list[str] = []
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def _csrf(self, path: str) -> str:
        html = self.opener.open(self.base + path, timeout=10).read().decode()
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
        return match.group(1) if match else ""

    def _post(self, path: str, data: dict) -> str:
        body = urllib.parse.urlencode(data).encode()
        with self.opener.open(self.base + path, data=body, timeout=10) as response:
            return response.geturl()

    def login(self) -> None:
        token = self._csrf("/login")
        landed = self._post("/login", {"csrf_token": token, "email": STAFF_EMAIL,
                                       "password": STAFF_PASSWORD})
        if "/login" in landed:
            raise RuntimeError("the bench staff account could not log in")

    def run(self) -> None:
        try:
            self.login()
        except (OSError, RuntimeError) as err:
            self.problems.append(f"login: {err}")
            return
        from bench.load import london_today

        today = london_today().isoformat()
        next_at = time.monotonic()
        token = ""
        while not self.stopping.is_set():
            pence = 100 * (1 + self.writes % 50)
            try:
                token = token or self._csrf(self.path)
                # A refused form comes back as 422 (HTTPError); success redirects to the form.
                self._post(self.path, {
                    "csrf_token": token, "amount": f"{pence / 100:.2f}", "received_on": today,
                    "source": "post", "donor_name": "", "donor_town": "",
                })
                self.writes += 1
                self.amount_pence += pence
            except (OSError, RuntimeError) as err:
                self.errors += 1
                if len(self.problems) < 5:
                    self.problems.append(str(err))
            next_at += self.interval
            self.stopping.wait(max(0.0, next_at - time.monotonic()))


# --------------------------------------------------------------------------- databases

@dataclass
class Database:
    name: str  # "sqlite" or "postgresql"
    url: str
    env: dict


def base_env(instance: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COOP_", "FLASK_")) and k not in ("DATABASE_URL", "SECRET_KEY")}
    env.update({
        "COOP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        # https is required in production; the host must be the one the load is sent to
        "COOP_BASE_URL": "https://127.0.0.1",
        "COOP_INSTANCE_PATH": str(instance),
        # Plain-HTTP cookies on 127.0.0.1, so the staff writer can log in.
        "COOP_SESSION_COOKIE_SECURE": "false",
        "COOP_SESSION_COOKIE_NAME": "session",
        "COOP_REMEMBER_COOKIE_SECURE": "false",
        "COOP_REMEMBER_COOKIE_NAME": "remember_token",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def prepare(kind: str, entries: int, args: argparse.Namespace, workdir: Path) -> tuple[Database,
                                                                                         dict]:
    from bench import load

    instance = workdir / f"{kind}-{entries}"
    instance.mkdir(parents=True, exist_ok=True)
    env = base_env(instance)
    if kind == "postgresql":
        base_url = sa.make_url(args.pg_url)
        url = reset_postgres(base_url.set(database=f"{base_url.database}_{entries}")
                             .render_as_string(hide_password=False))
        env["DATABASE_URL"] = url
    else:
        path = instance / "coop.sqlite3"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    started = time.monotonic()
    flask(env, "db", "upgrade")
    flask(env, "seed")
    flask(env, "create-user", STAFF_EMAIL, "--role", "staff", "--name", "Bench Staff",
          "--password-stdin", stdin=STAFF_PASSWORD + "\n")
    engine = sa.create_engine(url)
    try:
        loaded = time.monotonic()
        ledger = load.load_ledger(engine, entries)
        ledger["load_seconds"] = round(time.monotonic() - loaded, 1)
        ledger["events"] = load.load_events(engine, args.events)
    finally:
        engine.dispose()
    ledger["prepare_seconds"] = round(time.monotonic() - started, 1)
    return Database(kind, url, env), ledger


def reset_postgres(url: str) -> str:
    """Create the bench database if missing and empty its schema."""
    from coop.db import normalise_database_url

    target = sa.make_url(normalise_database_url(url))
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                               {"n": target.database}):
                conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()
    engine = sa.create_engine(target)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return target.render_as_string(hide_password=False)


def postgres_reachable(url: str) -> bool:
    from coop.db import normalise_database_url

    engine = sa.create_engine(sa.make_url(normalise_database_url(url)).set(database="postgres"))
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def verify_totals(db: Database) -> tuple[bool, str]:
    """``fund-verify`` after the mixed load: every gift posted must be in the totals."""
    try:
        output = flask(db.env, "fund-verify", timeout=120).strip()
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        return False, f"fund-verify failed: {str(err)[-300:]}"
    return True, "fund-verify: " + (output.splitlines()[-1] if output else "clean")


# --------------------------------------------------------------------------- the run

def _print(path: str, figures: dict, notes: str = "") -> None:
    print(f"    {path:<16} {figures['rps']:8.0f} req/s  p50 {figures['p50_ms']:6.1f} ms"
          f"  p99 {figures['p99_ms']:6.1f} ms  errors {figures['errors']}"
          + (f"  ({notes})" if notes else ""), flush=True)


def _median(runs: list[dict]) -> dict:
    runs = sorted(runs, key=lambda figures: figures["rps"])
    chosen = runs[len(runs) // 2]
    chosen["errors"] = sum(r["errors"] for r in runs)
    chosen["extra"]["runs_rps"] = [round(r["rps"]) for r in runs]
    return chosen


def measure(kind: str, prepared: list[tuple[Database, dict]], workers: str, args,
            log: Path) -> list[Result]:
    """Every ledger size served at once, beside hello-world, and measured in turns: each
    round runs hello-world once, then every path against each ledger one after the other,
    so the small and the big ledger meet the same moments of the machine's drift. Each
    figure is the median of ``args.repeat`` rounds. Then the mixed load, once per ledger."""
    results: list[Result] = []
    runs: dict[tuple, list[dict]] = {}
    env = base_env(Path(tempfile.gettempdir()))
    with contextlib.ExitStack() as stack:
        hello = stack.enter_context(gunicorn("bench.hello:app", workers, env, log, "/"))
        bases = [stack.enter_context(gunicorn("coop:create_app()", workers, db.env, log,
                                              "/healthz")) for db, _ in prepared]
        warm_up(hello, ["/"])
        for base in bases:
            warm_up(base, PATHS)
        for round_ in range(max(args.repeat, 1)):
            print(f"  {kind}, {workers}: round {round_ + 1} of {args.repeat}", flush=True)
            runs.setdefault(("hello",), []).append(wrk(hello + "/", args))
            for path in PATHS:
                for (_, ledger), base in zip(prepared, bases, strict=True):
                    runs.setdefault((ledger["entries"], path), []).append(wrk(base + path, args))
        hello_figures = _median(runs[("hello",)])
        _print("hello-world", hello_figures)
        for (db, ledger), base in zip(prepared, bases, strict=True):
            entries = ledger["entries"]
            print(f"  {kind}, {entries:,} entries, {workers}", flush=True)
            results.append(Result(kind, workers, entries, "hello",
                                  **{**hello_figures, "extra": dict(hello_figures["extra"])}))
            for path in PATHS:
                figures = _median(runs[(entries, path)])
                results.append(Result(kind, workers, entries, path, **figures))
                _print(path, figures)
            results.append(measure_mixed(db, base, ledger, workers, args))
    return results


def measure_mixed(db: Database, base: str, ledger: dict, workers: str, args) -> Result:
    writer = StaffWriter(base, args.write_rate, ledger["campaign_id"])
    writer.start()
    try:
        figures = wrk(base + "/", args, script=BENCH / "mixed.lua",
                      env={"BENCH_PATHS": " ".join(MIXED_PATHS)})
    finally:
        writer.stopping.set()
        writer.join(timeout=15)
    verified, verdict = verify_totals(db)
    notes = f"{writer.writes} gifts posted, {writer.errors} failed; {verdict}"
    if writer.problems:
        notes += "; " + "; ".join(writer.problems[:2])
    figures["extra"]["verified"] = verified
    _print("mixed", figures, notes)
    return Result(db.name, workers, ledger["entries"], "mixed", **figures, notes=notes,
                  writes=writer.writes, write_errors=writer.errors)


def check(results: list[Result]) -> list[tuple[Result, float, str]]:
    """Each result with its % of hello-world and PASS/FAIL against the targets."""
    hello = {(r.database, r.workers, r.entries): r.rps for r in results if r.path == "hello"}
    def share_of_hello(r: Result) -> float:
        base = hello.get((r.database, r.workers, r.entries)) or 0
        return 100 * r.rps / base if base else 0.0

    # The big ledger's requests/s against the small one's, measured in turns (see measure)
    small = {(r.database, r.workers, r.path): r.rps for r in results
             if r.path != "hello" and r.entries == min_entries(results)}
    rows = []
    for r in results:
        share = share_of_hello(r)
        verdicts = []
        if r.errors:
            verdicts.append("FAIL errors")
        # issue 11's targets: the embeds ≥ 90% of hello-world, the pages ≥ 50%
        if r.path in EMBED_PATHS:
            verdicts.append("PASS ≥90%" if share >= 90 else "FAIL <90%")
        if r.path in PAGE_PATHS:
            verdicts.append("PASS ≥50%" if share >= 50 else "FAIL <50%")
        if r.path in FUND_PATHS and r.entries != min_entries(results):
            reference = small.get((r.database, r.workers, r.path))
            if reference:
                ratio = r.rps / reference
                verdicts.append(f"PASS {ratio:.0%} of 10" if ratio >= 0.9
                                else f"FAIL {ratio:.0%} of 10")
        if r.path == "mixed":
            if r.writes == 0 or r.write_errors:
                verdicts.append("FAIL writes")
            if not r.extra.get("verified"):
                verdicts.append("FAIL fund-verify")
        if not verdicts:
            verdicts.append("PASS" if not r.errors else "")
        rows.append((r, share, ", ".join(verdicts)))
    return rows


def min_entries(results: list[Result]) -> int:
    sizes = [r.entries for r in results if r.path != "hello"]
    return min(sizes) if sizes else 0


def table(rows) -> str:
    lines = ["| database | workers | entries | path | req/s | % hello | p50 ms | p99 ms | errors "
             "| idle | verdict |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r, share, verdict in rows:
        entries = f"{r.entries:,}"
        path = "hello-world" if r.path == "hello" else r.path
        lines.append(f"| {r.database} | {r.workers} | {entries} | {path} | {r.rps:,.0f} | "
                     f"{share:.0f}% | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} | "
                     f"{r.extra.get('idle_before', 0):.0f}% | {verdict} |")
    return "\n".join(lines)


def machine() -> dict:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True,
                                 check=False).stdout.splitlines()
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "wrk": wrk_version[0] if wrk_version else "?"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of runs, the median kept (3; the mixed load runs once)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="sqlite and/or postgresql (PostgreSQL is skipped if unreachable)")
    parser.add_argument("--entries", default="10,1000000", help="ledger sizes (10,1000000)")
    parser.add_argument("--events", type=int, default=10_000, help="events in the database")
    parser.add_argument("--workers", default="sync",
                        help="gunicorn worker classes, 2 workers each (sync; or sync,gthread)")
    parser.add_argument("--write-rate", type=float, default=10.0,
                        help="gifts a second the staff writer posts during the mixed load")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL),
                        help="PostgreSQL database for the bench, emptied first "
                             "(BENCH_DATABASE_URL; default coop_bench on 127.0.0.1)")
    return parser.parse_args(argv)


def run_all(databases, sizes, workers, args, tmp: Path, log: Path, results: list,
            loads: list) -> None:
    for kind in databases:
        print(f"== {kind}", flush=True)
        prepared = []
        for entries in sizes:
            db, ledger = prepare(kind, entries, args, tmp)
            loads.append({"database": kind, **ledger})
            prepared.append((db, ledger))
            print(f"  {kind}: {ledger['entries']:,} ledger entries (loaded in "
                  f"{ledger['load_seconds']}s), {ledger['events']:,} events", flush=True)
        for worker in workers:
            results.extend(measure(kind, prepared, worker, args, log))


def _exit_on_sigterm(signum, _frame):
    # raise SystemExit so the ``with``/``finally`` blocks stop every server this run started
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install wrk` (make bench does it).",
              file=sys.stderr)
        return 2
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if "postgresql" in databases and not postgres_reachable(args.pg_url):
        print(f"PostgreSQL at {args.pg_url} is unreachable: measuring SQLite only.")
        databases.remove("postgresql")
    sizes = [int(n) for n in args.entries.split(",")]
    workers = [w.strip() for w in args.workers.split(",") if w.strip()]
    runs = len(databases) * len(workers) * ((len(PATHS) * len(sizes) + 1) * args.repeat
                                            + len(sizes))
    info = machine()
    print(f"coop benchmark {info['date']} on {info['cores']} cores ({info['cpu']}); "
          f"{runs} wrk runs of {args.duration}s: about {runs * (args.duration + 3) // 60 + 1} "
          "minutes plus loading.", flush=True)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    log = RESULTS / f"{stamp}-servers.log"
    results: list[Result] = []
    loads = []
    failure = None
    with tempfile.TemporaryDirectory(prefix="coop-bench-") as tmp:
        try:
            run_all(databases, sizes, workers, args, Path(tmp), log, results, loads)
        except Exception as err:  # noqa: BLE001 - keep and print what was measured so far
            failure = f"{type(err).__name__}: {str(err)[:500]}"
    rows = check(results)
    report = (f"coop benchmark, {info['date']}, {info['cores']} cores ({info['cpu']}), "
              f"Python {info['python']}, {info['wrk']}; wrk -t{args.threads} "
              f"-c{args.connections} -d{args.duration}s; gunicorn 2 workers "
              f"(sync, gthread = 4 threads each); idle = CPU idle in the half second before "
              f"each run (below ~90% another program was competing)\n\n" + table(rows) + "\n")
    print()
    print(report)
    (RESULTS / f"{stamp}.md").write_text(report)
    (RESULTS / f"{stamp}.json").write_text(json.dumps(
        {"machine": info, "args": vars(args), "loads": loads,
         "results": [asdict(r) | {"percent_of_hello": round(s, 1), "verdict": v}
                     for r, s, v in rows]}, indent=2, default=str))
    print(f"Saved to {RESULTS / stamp}.md and .json")
    if failure:
        print(f"The run stopped early: {failure}", file=sys.stderr)
        return 2
    return 1 if any("FAIL" in v for _, _, v in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
