"""Graduate portal benchmark (issue 4): the clearance sheet ``/me`` at N graduates.

    python -m bench --suite portal [--db sqlite|postgres|both] [--graduates 20000] [--requests 300]
                           [--load-seconds 30] [--workers 3] [--worker-class sync] [--threads 1]
                           [--connections 16] [--sessions 500] [--port 5118] [--out docs/performance.md]

For each database: a fresh database (SQLite file in a temp dir; PostgreSQL in its own schema
``lixiao_bench_portal``, dropped at the end), the default checkpoints, cohort 2026 with the three
default diagrams, N graduates (``bench/data.py``) started with ``start_cohort``; then some classes
confirm an item, some dorm rooms get "not passed" with a reason (sheets in varied states), three
announcements, ANALYZE. Then

1. *server time*: the Flask test client GETs ``/me`` once for each of ``--requests`` different
   graduates (a logged-in session each, fresh request context as in production), after a warm-up;
   median / p95 / max and SQL statements per request. Every response must be 200 and show the
   graduate's own name and student number.
2. *load* (PostgreSQL only): gunicorn with ``gunicorn.conf.py`` on 127.0.0.1:``--port`` (production
   mode, rate limits off so the bench can log in its graduates), ``--sessions`` graduates logged
   in through ``POST /login`` with the CSRF token of the login page, each cookie checked to show its
   own sheet; then ``wrk`` (a Lua script spreading the requests over all the cookies, counting
   anything but 200 as an error) for a warm-up and ``--load-seconds`` measured: requests/s and
   p50 / p90 / p99 latency. Loopback only; wrk stops by itself, gunicorn is stopped afterwards.
"""
from __future__ import annotations

import argparse
import contextlib
import contextvars
import cProfile
import gc
import html
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import engine_core
from bench.data import split_counts
from bench.engine_core import PG_URL, batch_groups, log, percentile, profile_text, spread, started_cohort
from bench.report import command_line, common_arguments, machine, save_json, write_section

ROOT = Path(__file__).resolve().parent.parent
PG_SCHEMA = "lixiao_bench_portal"
BLOCK = "portal"
TARGETS = {"server_ms": 30.0, "rps": 500.0, "p99_ms": 100.0}
PASSWORD = "bench-pass-2026"
USER_AGENT = "lixiao-bench/1.0"
SECRET_KEY = "bench-portal-secret-key-not-for-production"

WRK_LUA = r"""
-- Spreads GET /me over many graduates' session cookies (one per line of args[1]);
-- anything but 200 (a redirect to the login page included) counts as an error.
local threads = {}
local n = 0

function setup(thread)
  n = n + 1
  thread:set("tid", n)
  table.insert(threads, thread)
end

function init(args)
  cookies = {}
  for line in io.lines(args[1]) do
    if #line > 0 then cookies[#cookies + 1] = line end
  end
  agent = args[2]
  i = (tid * 7919) % #cookies
  ok, bad = 0, 0
end

function request()
  i = i % #cookies + 1
  return wrk.format("GET", "/me", {["Cookie"] = cookies[i], ["User-Agent"] = agent,
                                  ["Host"] = wrk.host .. ":" .. wrk.port})
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local good, wrong = 0, 0
  for _, t in ipairs(threads) do
    good = good + t:get("ok")
    wrong = wrong + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "bytes": %d, "ok": %d, "not_200": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, good, wrong,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


# ----------------------------------------------------------------------------- databases
def database(kind: str, pg_url: str, keep: bool = False):
    """A fresh SQLite file, or a fresh schema ``PG_SCHEMA`` in the PostgreSQL database."""
    return engine_core.database(kind, pg_url, keep, schema=PG_SCHEMA)


def analyze(kind: str) -> None:
    engine_core.analyze(kind, PG_SCHEMA)


# ----------------------------------------------------------------------------- data
def vary_sheets(cohort_id: int) -> dict[str, int]:
    """Sheets in varied states: classes confirmed an item, dorm rooms not passed with a reason."""
    from app.core.enums import Source
    from app.workflow.services import Actor, apply

    actor = Actor(None, "bench operator", Source.BATCH)
    classes = spread(batch_groups(cohort_id, "student_id_card", ("class_name",), 40), 40)
    rooms = spread(batch_groups(cohort_id, "electricity", ("dorm_building", "dorm_room"), 6), 80)
    for ids in classes:
        apply(ids, "student_id_card", "confirm", actor, strict=False)
    for ids in rooms:
        apply(ids, "electricity", "reject", actor, reason="欠电费 35.5 元，请到水电中心缴清", strict=False)
    return {"classes_confirmed": len(classes), "rooms_rejected": len(rooms)}


def add_announcements(cohort_id: int) -> None:
    from app.extensions import db
    from app.portal.models import Announcement

    db.session.add_all([
        Announcement(cohort_id=cohort_id, title="2026届毕业生离校手续办理通知", pinned=True,
                     body="请于6月20日至6月30日办理离校手续，各离校点办公时间见离校单。"),
        Announcement(cohort_id=None, title="图书馆还书时间调整", body="6月期间图书馆延长开放至21:00。"),
        Announcement(cohort_id=cohort_id, title="宿舍退宿说明", body="退宿前请清理个人物品并结清电费。"),
    ])
    db.session.commit()


def sample_graduates(cohort_id: int, k: int, seed: int = 4) -> list[tuple[int, str, str]]:
    """``k`` graduates spread over the cohort: (id, student number, name)."""
    from app.extensions import db
    from app.graduates.models import Graduate

    rows = db.session.execute(sa.select(Graduate.id, Graduate.student_no, Graduate.name)
                              .where(Graduate.cohort_id == cohort_id).order_by(Graduate.id)).all()
    picked = random.Random(seed).sample(rows, min(k, len(rows)))
    return [(r.id, r.student_no, r.name) for r in picked]


def set_passwords(ids: list[int]) -> None:
    """Give these graduates their own password (else /me redirects to the password change).

    One cheap PBKDF2 hash for all of them: logging 500 graduates in stays quick, and
    ``check_password_hash`` is the same code path as with the default scrypt hash.
    """
    from werkzeug.security import generate_password_hash

    from app.extensions import db
    from app.graduates.models import Graduate

    hashed = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    for i in range(0, len(ids), 1000):
        db.session.execute(sa.update(Graduate).where(Graduate.id.in_(ids[i:i + 1000]))
                           .values(password_hash=hashed))
    db.session.commit()


# ----------------------------------------------------------------------------- 1. server time
class StatementCounter:
    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def _inc(self, *args, **kwargs) -> None:  # noqa: ARG002
        self.count += 1

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._inc)
        return self

    def __exit__(self, *exc) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._inc)


def check_sheet(status: int, body: str, student_no: str, name: str) -> None:
    if status != 200:
        raise RuntimeError(f"/me for {student_no}: HTTP {status}")
    if student_no not in body and html.escape(name) not in body:
        raise RuntimeError(f"/me for {student_no}: the page shows neither the name nor the student number")


def server_times(app, sample: list[tuple[int, str, str]], warmup: int,
                 prof: cProfile.Profile | None = None) -> dict[str, Any]:
    """GET /me once per graduate with the test client; a fresh context per request."""
    from app.extensions import db

    def one(gid: int, student_no: str, name: str) -> tuple[float, float]:
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["_user_id"] = f"g:{gid}:0"
            sess["_fresh"] = True
        ctx = contextvars.Context()      # as in production: no app context leaks between requests
        if prof:
            prof.enable()
        t0, c0 = time.perf_counter(), time.process_time()
        resp = ctx.run(client.get, "/me")
        dt, dc = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        if prof:
            prof.disable()
        check_sheet(resp.status_code, resp.get_data(as_text=True), student_no, name)
        return dt, dc

    for row in sample[:warmup]:
        one(*row)
    with app.app_context():
        engine = db.engine
    times, cpu = [], []
    with StatementCounter(engine) as counter:
        for row in sample[warmup:]:
            dt, dc = one(*row)
            times.append(dt)
            cpu.append(dc)
    return {"ms": times, "cpu_ms": cpu, "statements": counter.count / max(1, len(times))}


# ----------------------------------------------------------------------------- 2. load
def free_port(port: int) -> None:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"port {port} is in use; pass --port")


@contextlib.contextmanager
def gunicorn(url: str, args, workdir: Path, extra_env: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """gunicorn -c gunicorn.conf.py 'wsgi:app' on 127.0.0.1:port; stopped (SIGTERM, by pid) on exit."""
    free_port(args.port)
    env = dict(os.environ)
    env.update(extra_env or {})
    env.update({
        "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "LIXIAO_ENV": "production",
        "LIXIAO_RATELIMIT_ENABLED": "false",      # the bench logs in hundreds of graduates from one IP
        "WEB_CONCURRENCY": str(args.workers), "GUNICORN_BIND": f"127.0.0.1:{args.port}",
        "GUNICORN_LOG_LEVEL": "warning",
    })
    env.pop("LIXIAO_SQLALCHEMY_DATABASE_URI", None)
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
           "--worker-class", args.worker_class, "--threads", str(args.threads)]
    if args.max_requests is not None:
        cmd += ["--max-requests", str(args.max_requests)]
    cmd.append("wsgi:app")
    logfile = workdir / f"gunicorn-{time.monotonic_ns()}.log"
    info = {"command": " ".join(["gunicorn", *cmd[1:]]), "log": str(logfile),
            "env": {k: env[k] for k in ("WEB_CONCURRENCY", "GUNICORN_BIND")}}
    with open(logfile, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({proc.returncode}):\n{logfile.read_text()[-3000:]}")
            try:
                status, _h, _b = http_get(args.port, "/login")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer in 60 s:\n{logfile.read_text()[-3000:]}")
            time.sleep(0.3)
        info["pid"] = proc.pid
        yield info
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def http_request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
                 body: str | None = None) -> tuple[int, http.client.HTTPMessage, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"User-Agent": USER_AGENT, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def http_get(port: int, path: str, cookie: str | None = None):
    return http_request(port, "GET", path, {"Cookie": cookie} if cookie else None)


def session_cookie(headers: http.client.HTTPMessage) -> str | None:
    for value in headers.get_all("Set-Cookie") or []:
        pair = value.split(";", 1)[0]
        if pair.startswith("session="):
            return pair
    return None


def login(port: int, student_no: str, name: str) -> str:
    """Log in through the login form (CSRF token from the page); the session cookie, checked on /me."""
    status, headers, body = http_get(port, "/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', body)
    cookie = session_cookie(headers)
    if status != 200 or not token or not cookie:
        raise RuntimeError(f"GET /login: HTTP {status}, token {bool(token)}, cookie {bool(cookie)}")
    form = urllib.parse.urlencode({"csrf_token": html.unescape(token.group(1)), "kind": "graduate",
                                   "username": student_no, "password": PASSWORD})
    status, headers, body = http_request(port, "POST", "/login", {
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, form)
    cookie = session_cookie(headers)
    if status != 302 or not cookie:
        raise RuntimeError(f"POST /login for {student_no}: HTTP {status} {headers.get('Location')}")
    status, headers, body = http_get(port, "/me", cookie)
    check_sheet(status, body, student_no, name)
    if session_cookie(headers):
        raise RuntimeError("/me sets a new session cookie on every request (session protection?)")
    return cookie


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (gunicorn's master and workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def postgres_cpu_seconds() -> float:
    """User + system CPU seconds of every PostgreSQL process on the machine (its backends serve the
    bench's gunicorn workers; on a quiet machine nothing else)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run_wrk(port: int, seconds: int, args, workdir: Path, cookies_file: Path,
            server_pid: int | None = None) -> dict[str, Any]:
    script = workdir / "portal.lua"
    script.write_text(WRK_LUA, encoding="utf-8")
    cmd = ["wrk", "-t", str(args.wrk_threads), "-c", str(args.connections), "-d", f"{seconds}s",
           "--timeout", "5s", "-s", str(script), f"http://127.0.0.1:{port}/me", "--",
           str(cookies_file), USER_AGENT]
    cpu0 = tree_cpu_seconds(server_pid) if server_pid else 0.0
    pg0 = postgres_cpu_seconds()
    wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu1 = tree_cpu_seconds(server_pid) if server_pid else 0.0
    pg1 = postgres_cpu_seconds()
    match = re.search(r"WRK-JSON (\{.*\})", proc.stdout)
    if proc.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    res = json.loads(match.group(1))
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    n = max(1, res["requests"])
    if server_pid:
        res["gunicorn_cpu_ms"] = (cpu1 - cpu0) * 1000 / n
        res["postgres_cpu_ms"] = (pg1 - pg0) * 1000 / n
    res["wrk_cpu_ms"] = ((wrk1.ru_utime + wrk1.ru_stime) - (wrk0.ru_utime + wrk0.ru_stime)) * 1000 / n
    res["command"] = (f"wrk -t {args.wrk_threads} -c {args.connections} -d {seconds}s --timeout 5s "
                      f"-s portal.lua http://127.0.0.1:{port}/me -- cookies.txt {USER_AGENT}")
    return res


def _load_phase(url: str, sample: list[tuple[int, str, str]], args, workdir: Path, label: str,
                warmup_s: int, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Start gunicorn, log the sample in, warm up, then one measured wrk run."""
    log(f"postgres ({label}): gunicorn {args.workers} x {args.worker_class} (threads {args.threads}) "
        f"on 127.0.0.1:{args.port}")
    with gunicorn(url, args, workdir, extra_env) as info:
        log(f"postgres ({label}): logging in {len(sample)} graduates through POST /login")
        with ThreadPoolExecutor(4) as pool:
            cookies = list(pool.map(lambda row: login(args.port, row[1], row[2]), sample))
        cookies_file = workdir / "cookies.txt"
        cookies_file.write_text("\n".join(cookies) + "\n", encoding="utf-8")
        log(f"postgres ({label}): wrk warm-up {warmup_s} s")
        warm = run_wrk(args.port, warmup_s, args, workdir, cookies_file)
        log(f"postgres ({label}): wrk {args.load_seconds} s, {args.connections} connections")
        res = run_wrk(args.port, args.load_seconds, args, workdir, cookies_file, info["pid"])
        res["errors"] = res["not_200"] + res["connect_errors"] + res["read_errors"] + res["write_errors"] \
            + res["timeouts"]
        res["warmup_rps"], res["warmup_s"], res["sessions"] = warm["rps"], warmup_s, len(cookies)
        res["gunicorn"] = {k: v for k, v in info.items() if k != "log"}
        res["gunicorn"].update(workers=args.workers, worker_class=args.worker_class, threads=args.threads)
        if res["errors"]:
            tail = Path(info["log"]).read_text(errors="replace")[-2000:]
            log(f"postgres ({label}): {res['errors']} failed requests; gunicorn log tail:\n{tail}")
    return res


def load_test(url: str, sample: list[tuple[int, str, str]], args) -> dict[str, Any]:
    """wrk against gunicorn as configured (the target), then, unless ``--no-uncached``, again with the
    sheet cache off (``LIXIAO_SHEET_CACHE_ENTRIES=0``): every view rendered, the worst case of a
    peak where no graduate looks at an unchanged sheet twice."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (./dev.sh bench installs Debian's wrk; "
                           "or apt-get install wrk), or pass --no-load")
    with tempfile.TemporaryDirectory(prefix="lixiao-bench-wrk-") as tmp:
        res = _load_phase(url, sample, args, Path(tmp), "sheet cache on", args.warmup_seconds)
        if not args.no_uncached:
            res["uncached"] = _load_phase(url, sample, args, Path(tmp), "sheet cache off",
                                          min(5, args.warmup_seconds), {"LIXIAO_SHEET_CACHE_ENTRIES": "0"})
    return res


# ----------------------------------------------------------------------------- one database
def run_one(kind: str, args) -> dict[str, Any]:
    from app import create_app
    from app.extensions import db

    n = args.graduates
    res: dict[str, Any] = {"db": kind, "n": n}
    with database(kind, args.pg_url, keep=args.keep) as url:
        app = create_app({"TESTING": False, "SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": url,
                          "SQLALCHEMY_ENGINE_OPTIONS": {}, "RATELIMIT_ENABLED": False})
        with app.app_context():
            cohort_id = started_cohort(kind, n, res)
            log(f"{kind}: varied sheets, announcements, ANALYZE")
            res["varied"] = vary_sheets(cohort_id)
            add_announcements(cohort_id)
            analyze(kind)
            warmup = min(20, args.requests)
            sample = sample_graduates(cohort_id, max(args.requests + warmup, args.sessions))
            set_passwords([gid for gid, _no, _name in sample])
            db.session.remove()
        gc.collect()
        gc.freeze()   # as gunicorn.conf.py's post_worker_init does in each worker

        log(f"{kind}: GET /me for {args.requests} different graduates (test client)")
        timed = server_times(app, sample[:args.requests + warmup], warmup)
        res["server_ms"], res["server_cpu_ms"], res["statements"] = timed["ms"], timed["cpu_ms"], timed["statements"]
        if args.profile:
            prof = cProfile.Profile()
            server_times(app, sample[-100:], 0, prof)
            res["profile"] = profile_text(prof, 30)
        if kind == "postgres" and not args.no_load:
            res["load"] = load_test(url, sample[:args.sessions], args)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return res


# ----------------------------------------------------------------------------- output
def ok(value: float, target: float, higher: bool = False) -> str:
    return "✓" if (value >= target if higher else value <= target) else "✗"


def metric_rows(results: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    def per(fn):
        return [fn(r) for r in results]

    def load(fn):
        return per(lambda r: fn(r["load"]) if r.get("load") else "–")

    t = TARGETS
    return [
        ("GET /me server time, median / p95 / max", f"≤ {t['server_ms']:.0f} ms (p95)",
         per(lambda r: f"{statistics.median(r['server_ms']):.1f} / {percentile(r['server_ms'], 95):.1f} / "
                       f"{max(r['server_ms']):.1f} ms {ok(percentile(r['server_ms'], 95), t['server_ms'])}")),
        ("… CPU time of the Python process, median / p95", "",
         per(lambda r: f"{statistics.median(r['server_cpu_ms']):.1f} / {percentile(r['server_cpu_ms'], 95):.1f} ms"
             if r.get("server_cpu_ms") else "–")),
        ("SQL statements per GET /me", "", per(lambda r: f"{r['statements']:.1f}")),
        ("gunicorn + wrk: requests/s", f"≥ {t['rps']:.0f}",
         load(lambda x: f"{x['rps']:.0f} {ok(x['rps'], t['rps'], higher=True)}")),
        ("gunicorn + wrk: latency p50 / p90 / p99", f"p99 ≤ {t['p99_ms']:.0f} ms",
         load(lambda x: f"{x['p50_us'] / 1000:.1f} / {x['p90_us'] / 1000:.1f} / {x['p99_us'] / 1000:.1f} ms "
                        f"{ok(x['p99_us'] / 1000, t['p99_ms'])}")),
        ("gunicorn + wrk: requests (errors)", "0 errors",
         load(lambda x: f"{x['requests']} ({x['errors']})")),
        ("CPU per request: gunicorn workers / PostgreSQL / wrk", "",
         load(lambda x: f"{x['gunicorn_cpu_ms']:.2f} / {x.get('postgres_cpu_ms', float('nan')):.2f} / "
                        f"{x['wrk_cpu_ms']:.2f} ms" if "gunicorn_cpu_ms" in x else "–")),
        ("sheet cache off (every view rendered): requests/s, p50 / p99", "not a target",
         load(lambda x: f"{x['uncached']['rps']:.0f}, {x['uncached']['p50_us'] / 1000:.1f} / "
                        f"{x['uncached']['p99_us'] / 1000:.1f} ms ({x['uncached']['errors']} errors)"
                        if x.get("uncached") else "–")),
        ("start_cohort (setup, not a target)", "", per(lambda r: f"{r['start_s']:.0f} s")),
    ]


def text_table(results) -> str:
    rows = metric_rows(results)
    head = ["metric", "target"] + [r["db"] for r in results]
    body = [[m, t, *v] for m, t, v in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(cells, widths))
                     for cells in [head, ["-" * w for w in widths], *body])


def markdown(results, mach: dict[str, str], cmd: str) -> str:
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    n = results[0]["n"]
    counts = split_counts(n)
    out = ["## Graduate portal: the clearance sheet (issue 4)", "",
           f"Generated by `{cmd}` on {mach['date']}.", "",
           f"- Machine: {mach['nproc']} CPUs ({mach['cpu']}), {mach['python']}, {mach['os']}; "
           f"load average at start {mach['load']} (wrk, gunicorn and PostgreSQL share these CPUs).",
           "- Databases: " + ", ".join(r["server"] for r in results) + ".",
           f"- N = {n} graduates ({counts['undergraduate']} undergraduates, {counts['postgraduate_dual']} "
           f"postgraduate_dual, {counts['postgraduate_single']} postgraduate_single), all started; "
           + "; ".join(f"{names[r['db']]}: {r['varied']['classes_confirmed']} classes confirmed "
                       f"上交学生证, {r['varied']['rooms_rejected']} rooms not passed 清理电费 with a reason"
                       for r in results) + "; three announcements.", "",
           "| Metric | Target | " + " | ".join(names[r["db"]] for r in results) + " |",
           "|---|---|" + "---|" * len(results)]
    for m, t, vals in metric_rows(results):
        out.append(f"| {m} | {t} | " + " | ".join(vals) + " |")
    out += ["", "How it is measured:", "",
            f"- *server time*: Flask test client, `GET /me` once for each of {len(results[0]['server_ms'])} "
            "different graduates (random over the cohort, logged-in session), after 20 warm-up requests, "
            "each in a fresh context as in production; timed around the call, so it includes the test "
            "client's WSGI overhead. Every response is checked: 200 with the graduate's own name or "
            "student number. ✓/✗ on p95 (nearest rank). The CPU time (`time.process_time()` of the "
            "benchmark process: the app and, for SQLite, the database engine; not PostgreSQL's server "
            "process) depends much less on other load on the machine than the wall time (it still rises "
            "when the other hardware threads of the cores are busy)."]
    for r in results:
        x = r.get("load")
        if not x:
            continue
        g = x["gunicorn"]
        out += [
            f"- *load* ({names[r['db']]}): `{g['command']}` with `WEB_CONCURRENCY={g['workers']}` "
            f"(production mode, `{g['worker_class']}` workers, {g['threads']} thread(s) each, bound to "
            f"`{g['env']['GUNICORN_BIND']}`; rate limits off for the bench's logins). {x['sessions']} graduates "
            "logged in through `POST /login` with the login page's CSRF token, each cookie checked to show "
            "its own sheet. Then "
            f"`{x['command']}` (Lua script in `bench/portal.py`: round-robin over all cookies, any status "
            f"but 200 counts as an error) after a {x.get('warmup_s', '?')} s warm-up "
            f"({x['warmup_rps']:.0f} requests/s). {x['requests']} requests in "
            f"{x['duration_us'] / 1e6:.1f} s, {x['bytes'] / max(1, x['requests']) / 1024:.1f} KiB per page; "
            f"latency mean {x['mean_us'] / 1000:.1f} ms, max {x['max_us'] / 1000:.0f} ms; errors: "
            f"{x['not_200']} not 200, {x['connect_errors']} connect, {x['read_errors']} read, "
            f"{x['timeouts']} timeouts."
            + (f" Per request the gunicorn processes used {x['gunicorn_cpu_ms']:.2f} ms of CPU, PostgreSQL's "
               f"processes {x.get('postgres_cpu_ms', 0):.2f} ms and wrk {x['wrk_cpu_ms']:.2f} ms, so "
               f"{mach['nproc']} otherwise idle CPUs serve at most about "
               f"{int(mach['nproc']) * 1000 / (x['gunicorn_cpu_ms'] + x.get('postgres_cpu_ms', 0) + x['wrk_cpu_ms']):.0f}"
               " requests/s." if x.get("gunicorn_cpu_ms") else ""),
        ]
        u = x.get("uncached")
        if u:
            out.append(
                "- *sheet cache off* (not a target; the worst case): the same run with "
                "`LIXIAO_SHEET_CACHE_ENTRIES=0`, so every request renders the sheet, as if no graduate ever "
                f"looked twice at an unchanged sheet: {u['rps']:.0f} requests/s, p50 / p90 / p99 "
                f"{u['p50_us'] / 1000:.1f} / {u['p90_us'] / 1000:.1f} / {u['p99_us'] / 1000:.1f} ms, "
                f"{u['errors']} errors of {u['requests']}; CPU per request: gunicorn {u['gunicorn_cpu_ms']:.2f} ms, "
                f"PostgreSQL {u.get('postgres_cpu_ms', 0):.2f} ms.")
    return "\n".join(out)




def main(argv: list[str] | None = None, cmd: str | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench --suite portal", description=__doc__.split("\n")[0])
    common_arguments(p, PG_URL)
    p.add_argument("--requests", type=int, default=300, help="graduates timed in-process (default 300)")
    p.add_argument("--sessions", type=int, default=500, help="graduates logged in for wrk (default 500)")
    p.add_argument("--load-seconds", type=int, default=30)
    p.add_argument("--warmup-seconds", type=int, default=20,
                   help="wrk warm-up (default 20: every session's page reaches each worker's sheet cache)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=3, help="gunicorn workers (WEB_CONCURRENCY, default 3)")
    p.add_argument("--worker-class", default="sync", choices=("sync", "gthread"),
                   help="gunicorn worker class (default sync, as gunicorn.conf.py)")
    p.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread only; default 1)")
    p.add_argument("--max-requests", type=int, help="override gunicorn.conf.py's max_requests (0 = never recycle)")
    p.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "5118")))
    p.add_argument("--no-load", action="store_true", help="skip gunicorn + wrk")
    p.add_argument("--no-uncached", action="store_true", help="skip the second wrk run with the sheet cache off")
    p.add_argument("--profile", action="store_true", help="also print a cProfile of 100 GET /me (top 30)")
    args = p.parse_args(argv)
    if args.worker_class == "sync":
        args.threads = 1                 # sync workers have one thread

    mach = machine()
    cmd = cmd or command_line()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = []
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        mach, cmd, results, kinds = saved["machine"], saved["command"], saved["results"], []
    for kind in kinds:
        r = run_one(kind, args)
        results.append(r)
        if args.json:
            save_json(args.json, mach, cmd, results)
    print()
    print(text_table(results))
    for r in results:
        if r.get("profile"):
            print(f"\n===== {r['db']}: profile of GET /me =====\n{r['profile']}")
    write_section(args.out, BLOCK, markdown(results, mach, cmd))
    failed = [r for r in results if r.get("load") and r["load"]["errors"]]
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
