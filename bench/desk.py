"""Operator desk benchmark (issue 3): search, statistics panel, class / dorm batches, Excel batch.

    python -m bench --suite desk [--db sqlite|postgres|both] [--graduates 20000] [--runs 10]

For each database: a fresh database (SQLite file in a temp dir; PostgreSQL in its own schema
``lixiao_bench_desk``, dropped at the end), cohort 2026 with the three default diagrams, N graduates
(``bench/data.py``) started with ``start_cohort``, then a morning of desk work so the statistics
have every status (class batches, rejections with reasons, a few waivers), ``ANALYZE``
(PostgreSQL: ``VACUUM ANALYZE``, what autovacuum does in production). Every figure is *server
time*: the real route through the Flask test client (routing, login session, view, queries,
templates), timed from the request to the complete response, one operator logged in, CSRF off.

Measured, each over ``--runs`` different graduates / groups after one warm-up request:

- search by student number, by ID-card number (both answer with the redirect to the graduate)
  and by part of a name (the pick list), plus the graduate view the redirect leads to;
- the statistics panel as its polling fetches it (htmx fragment) and as a full page, for the
  checkpoint with the most items (学院离校点, 4 items per graduate) and a one-item checkpoint,
  the drill-down into one college, the first page of a pending list, the pending-list export;
- a class batch of 40 (``student_id_card``) and a dorm batch of 6 (``electricity``) through
  ``POST /desk/batch/confirm``;
- an Excel batch of 1,000 rows (``dorm_checkout``): upload and preview (``POST /desk/excel``),
  the preview page, confirmation (``POST /desk/excel/<id>/confirm``).
"""
from __future__ import annotations

import argparse
import contextvars
import gc
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from bench import engine_core
from bench.data import split_counts
from bench.engine_core import PG_URL, batch_groups, log, percentile, spread, started_cohort
from bench.report import command_line, common_arguments, machine, save_json, write_section

PG_SCHEMA = "lixiao_bench_desk"
BLOCK = "desk"
PASSWORD = "bench-pass-1"
EXCEL_WARMUP = 100                     # rows of the untimed first Excel file
# metric key -> (label, target in ms or None)
METRICS: dict[str, tuple[str, float | None]] = {
    "search_student_no": ("search by student number", 20),
    "search_id_card": ("search by ID-card number", 20),
    "search_name": ("search by part of a name (pick list)", 20),
    "graduate_view": ("graduate view after the search", None),
    "stats_panel_college": ("statistics panel, 学院离校点 (4 items, htmx refresh)", 50),
    "stats_page_college": ("statistics page, 学院离校点 (full page)", 50),
    "stats_panel_library": ("statistics panel, 图书馆 (1 item, htmx refresh)", 50),
    "stats_drill_college": ("statistics drill-down: one college by class", 50),
    "stats_list": ("list behind a number (first page of 50)", None),
    "stats_export": ("pending-list export .xlsx, 学院离校点", None),
    "batch_class": ("class batch of 40 (POST)", 100),
    "batch_dorm": ("dorm batch of 6 (POST)", 40),
    "excel_upload": ("Excel 1,000 rows: upload + preview (POST)", None),
    "excel_preview_page": ("Excel 1,000 rows: preview page", None),
    "excel_confirm": ("Excel 1,000 rows: confirm (POST)", None),
    "excel_total": ("Excel batch of 1,000 rows, preview + apply", 3000),
}


# ----------------------------------------------------------------------------- database
def database(kind: str, pg_url: str, keep: bool = False):
    """A fresh SQLite file, or a fresh schema ``PG_SCHEMA`` in the PostgreSQL database."""
    return engine_core.database(kind, pg_url, keep, schema=PG_SCHEMA)


def vacuum_analyze(kind: str) -> None:
    from app.extensions import db

    db.session.remove()
    if kind == "postgres":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for t in db.metadata.sorted_tables:
                conn.execute(sa.text(f"VACUUM ANALYZE {PG_SCHEMA}.{t.name}"))
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


# ----------------------------------------------------------------------------- state
def morning_of_work(cohort_id: int, rnd: random.Random) -> dict[str, int]:
    """Varied states for the statistics: what a few hours at the desks leave behind."""
    from app.core.enums import Source
    from app.extensions import db
    from app.graduates.models import Graduate
    from app.workflow.models import ClearanceItem
    from app.workflow.services import Actor, apply

    actor = Actor(None, "bench operator", Source.BATCH)
    done: dict[str, int] = {}

    def pending(key: str, limit: int) -> list[int]:
        ids = list(db.session.scalars(
            sa.select(ClearanceItem.graduate_id).join(Graduate, Graduate.id == ClearanceItem.graduate_id)
            .where(Graduate.cohort_id == cohort_id, ClearanceItem.task_key == key,
                   ClearanceItem.status == "pending").order_by(ClearanceItem.graduate_id)))
        rnd.shuffle(ids)
        return ids[:limit]

    n = db.session.scalar(sa.select(sa.func.count()).select_from(Graduate).where(Graduate.cohort_id == cohort_id))
    plan = [("league_transfer", "confirm", n // 4, None), ("party_letter", "confirm", n // 20, None),
            ("party_letter", "reject", n // 100, "党费未交清"), ("instruments", "reject", n // 400, "仪器未归还"),
            ("finance", "reject", n // 100, "欠学费 3,500 元"), ("library", "reject", n // 200, "有 2 本书未还"),
            ("library", "confirm", n // 20, None), ("dorm_checkout", "confirm", n // 40, None)]
    for key, action, count, reason in plan:
        ids = pending(key, max(1, count))
        for i in range(0, len(ids), 200):
            apply(ids[i:i + 200], key, action, actor, reason=reason, strict=False)
        done[f"{key}:{action}"] = len(ids)
    return done


# ----------------------------------------------------------------------------- timing
class FreshContextClient(FlaskClient):
    """Each request in an empty contextvars context: its own app context and database session, as in
    production (the benchmark keeps an app context pushed, which requests would otherwise reuse)."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


def timed(res: dict[str, Any], key: str, fn: Callable[[Any], Any], args: list[Any],
          after: Callable[[], Any] | None = None) -> None:
    """``fn(arg)`` for every arg, the first one a warm-up: wall milliseconds into ``res["times"][key]``,
    this process's CPU milliseconds into ``res["cpu"][key]`` (SQLite runs in-process, so on a busy
    machine the CPU time tells what the wall time would be on a quiet one). ``after()`` runs untimed."""
    wall, cpu = res["times"].setdefault(key, []), res["cpu"].setdefault(key, [])
    for i, arg in enumerate(args):
        c0, t0 = time.process_time(), time.perf_counter()
        try:
            fn(arg)
            dt, dc = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
            if after is not None:
                after()
        except Exception as exc:  # noqa: BLE001 - one broken page must not lose the other figures
            from app.extensions import db

            db.session.rollback()
            message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            log(f"{key}: FAILED: {message}")
            res["notes"].append(f"{METRICS[key][0]}: not measured, the request failed: {message}")
            wall.clear()
            cpu.clear()
            return
        if i:
            wall.append(dt)
            cpu.append(dc)


def expect(resp, *codes: int):
    if resp.status_code not in codes:
        body = resp.get_data(as_text=True)
        raise RuntimeError(f"{resp.request.method} {resp.request.path}: {resp.status_code}\n{body[:2000]}")
    return resp


def excel_file(student_nos: list[str]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["学号", "姓名", "结果", "原因"])
    for no in student_nos:
        ws.append([no, "", "通过", ""])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def run_one(kind: str, n: int, args) -> dict[str, Any]:
    from app import create_app
    from app.auth.services import create_user
    from app.extensions import db
    from app.graduates.models import Graduate
    from app.workflow.models import ClearanceItem
    from app.workflow.services import Actor

    res: dict[str, Any] = {"db": kind, "n": n, "times": {}, "cpu": {}, "notes": []}
    rnd = random.Random(2026)
    runs = args.runs
    with database(kind, args.pg_url, keep=args.keep) as url:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                          "SQLALCHEMY_ENGINE_OPTIONS": {}, "WTF_CSRF_ENABLED": False,
                          "RATELIMIT_ENABLED": False, "SERVER_NAME": None})
        with app.app_context():
            cohort_id = started_cohort(kind, n, res)
            log(f"{kind}: a morning of desk work")
            res["morning"] = morning_of_work(cohort_id, rnd)
            vacuum_analyze(kind)
            create_user("bench-op", "operator", PASSWORD, ["college", "library", "student_affairs", "utilities"])
            create_user("bench-dorm", "operator", PASSWORD, ["dormitory"])
            res["items"] = db.session.scalar(sa.select(sa.func.count()).select_from(ClearanceItem))
            res["status_counts"] = dict(db.session.execute(
                sa.select(ClearanceItem.status, sa.func.count()).group_by(ClearanceItem.status)).all())

            grads = list(db.session.execute(
                sa.select(Graduate.id, Graduate.student_no, Graduate.id_card, Graduate.name, Graduate.college)
                .where(Graduate.cohort_id == cohort_id).order_by(Graduate.id)))
            picks = rnd.sample(grads, min(len(grads), runs + 1))
            classes = batch_groups(cohort_id, "student_id_card", ("class_name",), 40)
            dorms = batch_groups(cohort_id, "electricity", ("dorm_building", "dorm_room"), 6)
            cls_pick, dorm_pick = spread(classes, runs + 1), spread(dorms, runs + 1)
            used = {gid for g in cls_pick for gid in g}
            excel_pool = [no for (no,) in db.session.execute(
                sa.select(Graduate.student_no).join(ClearanceItem, ClearanceItem.graduate_id == Graduate.id)
                .where(Graduate.cohort_id == cohort_id, ClearanceItem.task_key == "dorm_checkout",
                       ClearanceItem.status == "pending").order_by(Graduate.student_no))]
            # a warm-up file of EXCEL_WARMUP rows, then ``runs`` files of 1,000 (fewer at small N)
            excel_rows = min(1000, max(0, len(excel_pool) - EXCEL_WARMUP) // runs)
            res["excel_rows"] = excel_rows
            class_names = {gid: c for gid, c in db.session.execute(
                sa.select(Graduate.id, Graduate.class_name).where(Graduate.id.in_([g[0] for g in cls_pick])))}
            dorm_names = {gid: f"{b}-{r}" for gid, b, r in db.session.execute(
                sa.select(Graduate.id, Graduate.dorm_building, Graduate.dorm_room)
                .where(Graduate.id.in_([g[0] for g in dorm_pick])))}
            college = db.session.scalar(
                sa.select(Graduate.college).where(Graduate.cohort_id == cohort_id).limit(1))
            db.session.remove()
            log(f"{kind}: {len(classes)} full classes, {len(dorms)} full dorm rooms, "
                f"{len(excel_pool)} graduates for Excel ({excel_rows} rows per file)")

            # as in a gunicorn worker (gunicorn.conf.py post_worker_init): start-up objects frozen
            gc.collect()
            gc.freeze()
            app.test_client_class = FreshContextClient
            client = app.test_client()
            expect(client.post("/login", data={"kind": "staff", "username": "bench-op", "password": PASSWORD}),
                   302, 303)
            dorm_client = app.test_client()       # the Excel batch: an operator of 宿管中心 only
            expect(dorm_client.post("/login", data={"kind": "staff", "username": "bench-dorm",
                                                    "password": PASSWORD}), 302, 303)
            get = client.get

            log(f"{kind}: search")
            timed(res, "search_student_no", lambda g: expect(get(f"/desk/?cp=college&q={g.student_no}"), 303), picks)
            timed(res, "search_id_card", lambda g: expect(get(f"/desk/?cp=college&q={g.id_card.lower()}"), 303),
                  picks)
            timed(res, "search_name", lambda g: expect(get(f"/desk/?cp=college&q={g.name[:2]}"), 200, 303), picks)
            timed(res, "graduate_view", lambda g: expect(get(f"/desk/?cp=college&graduate_id={g.id}"), 200), picks)

            log(f"{kind}: statistics")
            hx = {"HX-Request": "true"}
            reps = list(range(runs + 1))
            timed(res, "stats_panel_college", lambda _i: expect(get("/desk/stats?cp=college", headers=hx), 200),
                  reps)
            timed(res, "stats_page_college", lambda _i: expect(get("/desk/stats?cp=college"), 200), reps)
            timed(res, "stats_panel_library", lambda _i: expect(get("/desk/stats?cp=library", headers=hx), 200),
                  reps)
            timed(res, "stats_drill_college", lambda _i: expect(
                get("/desk/stats", query_string={"cp": "college", "item": "league_transfer", "college": college},
                    headers=hx), 200), reps)
            timed(res, "stats_list", lambda _i: expect(
                get("/desk/stats/list", query_string={"cp": "college", "item": "league_transfer",
                                                      "status": "pending"}), 200), reps)
            timed(res, "stats_export", lambda _i: expect(get("/desk/stats/export.xlsx?cp=college"), 200),
                  reps[:max(2, runs // 2 + 1)])

            log(f"{kind}: class and dorm batches")
            have_routes = "desk.batch_confirm" in app.view_functions
            res["batch_via"] = "POST /desk/batch/confirm" if have_routes else "app.workflow.services.apply()"

            def batch(ids: list[int], by: str, key: str, cp: str, group: str) -> None:
                if have_routes:
                    resp = expect(client.post("/desk/batch/confirm", data={
                        "cp": cp, "cohort": "2026", "task": key, "by": by, "group": group,
                        "g": [str(i) for i in ids]}), 303)
                    followups.append(resp.headers["Location"])
                else:
                    from app.workflow.services import apply

                    db.session.remove()
                    apply(ids, key, "confirm", Actor(None, "bench", "batch"))

            # the browser follows each redirect (which shows, and so removes, the flash message from the
            # session cookie); done untimed after the POST
            followups: list[str] = []
            follow = (lambda: expect(get(followups.pop()), 200)) if have_routes else None
            timed(res, "batch_class", lambda ids: batch(ids, "class", "student_id_card", "student_affairs",
                                                        class_names[ids[0]]), cls_pick, after=follow)
            timed(res, "batch_dorm", lambda ids: batch(ids, "dorm", "electricity", "utilities",
                                                       dorm_names[ids[0]]), dorm_pick, after=follow)
            db.session.remove()
            got = db.session.scalar(sa.select(sa.func.count()).select_from(ClearanceItem).where(
                ClearanceItem.graduate_id.in_(used), ClearanceItem.task_key == "student_id_card",
                ClearanceItem.status == "passed"))
            if got != len(used) and res["times"]["batch_class"]:
                raise RuntimeError(f"class batches: {got} of {len(used)} confirmed")

            if "desk.excel_upload" in app.view_functions and excel_rows:
                log(f"{kind}: Excel batches of {excel_rows} rows")
                warm = min(EXCEL_WARMUP, excel_rows)
                files = [excel_file(excel_pool[:warm])] + [
                    excel_file(excel_pool[warm + i * excel_rows:warm + (i + 1) * excel_rows]) for i in range(runs)]
                used_rows = warm + runs * excel_rows
                previews: list[str] = []

                def upload(arg: tuple[int, bytes]) -> None:
                    i, data = arg
                    resp = expect(dorm_client.post("/desk/excel", data={
                        "cp": "dormitory", "cohort": "2026", "task": "dorm_checkout",
                        "file": (io.BytesIO(data), f"bench-{i}.xlsx")}, content_type="multipart/form-data"), 303)
                    previews.append(resp.headers["Location"])

                # every file uploaded, then every preview page, then every confirmation (disjoint rows)
                timed(res, "excel_upload", upload, list(enumerate(files)))
                timed(res, "excel_preview_page", lambda url: expect(dorm_client.get(url), 200), previews)
                timed(res, "excel_confirm", lambda url: expect(dorm_client.post(url.rstrip("/") + "/confirm"), 303),
                      previews, after=lambda: expect(dorm_client.get(previews[0]), 200))   # shows the flash
                for series in ("times", "cpu"):
                    parts = [res[series][k] for k in ("excel_upload", "excel_preview_page", "excel_confirm")]
                    res[series]["excel_total"] = [sum(x) for x in zip(*parts)]
                db.session.remove()
                applied = db.session.scalar(sa.select(sa.func.count()).select_from(ClearanceItem).join(
                    Graduate, Graduate.id == ClearanceItem.graduate_id).where(
                    Graduate.student_no.in_(excel_pool[:used_rows]),
                    ClearanceItem.task_key == "dorm_checkout", ClearanceItem.status == "passed"))
                if applied != used_rows and res["times"]["excel_confirm"]:
                    raise RuntimeError(f"Excel: {applied} of {used_rows} rows applied")
            else:
                res["notes"].append("Excel batch not measured: the routes are missing.")
            gc.unfreeze()
            db.session.remove()
            db.engine.dispose()
    return res


# ----------------------------------------------------------------------------- output
def cell(r: dict[str, Any], key: str) -> str:
    """``median / p95 unit ✓`` of the wall times, then the median CPU time of the process."""
    values = r["times"].get(key)
    if not values:
        return "–"
    target = METRICS[key][1]
    excel = key.startswith("excel")

    def fmt(v: float) -> str:
        return f"{v / 1000:.2f}" if excel else (f"{v:.0f}" if v >= 10 else f"{v:.1f}")

    p95 = percentile(values, 95)
    mark = "" if target is None else (" ✓" if p95 <= target else " ✗")
    cpu = r.get("cpu", {}).get(key)
    cpu_text = f" (cpu {fmt(statistics.median(cpu))})" if cpu else ""
    return f"{fmt(statistics.median(values))} / {fmt(p95)} {'s' if excel else 'ms'}{mark}{cpu_text}"


def target_text(key: str) -> str:
    target = METRICS[key][1]
    if target is None:
        return ""
    return f"≤ {target / 1000:.0f} s" if target >= 1000 else f"≤ {target:.0f} ms"


def text_table(results: list[dict[str, Any]]) -> str:
    head = ["metric (median / p95)", "target"] + [r["db"] for r in results]
    body = [[METRICS[k][0], target_text(k), *[cell(r, k) for r in results]] for k in METRICS]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def markdown(results: list[dict[str, Any]], mach: dict[str, str], cmd: str) -> str:
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    n = results[0]["n"]
    counts = split_counts(n)
    runs = max(len(v) for v in results[0]["times"].values())
    out = ["## Operator desk (issue 3)", "",
           f"Generated by `{cmd}` on {mach['date']}.", "",
           f"- Machine: {mach['nproc']} CPUs ({mach['cpu']}), {mach['python']}, {mach['os']}; "
           f"load average at start {mach['load']}.",
           "- Databases: " + ", ".join(r["server"] for r in results) + ".",
           f"- N = {n} graduates ({counts['undergraduate']} undergraduates, {counts['postgraduate_dual']} "
           f"postgraduate_dual, {counts['postgraduate_single']} postgraduate_single), "
           + ", ".join(f"{names[r['db']]} {r['items']} items" for r in results)
           + "; after `start_cohort` a morning of desk work (" + ", ".join(
               f"{k} {v}" for k, v in results[0]["morning"].items()) + ").",
           "", "Server time, median / p95 (nearest rank) over " + f"{runs} runs each, after one warm-up request; "
           "✓/✗ judged on p95. In brackets the median CPU time of the benchmark process for the same "
           "requests: with SQLite (in-process) that is nearly all of the server's work, so on a busy machine "
           "it shows what a quiet one would measure; with PostgreSQL the database server's own work is not "
           "in it.", "",
           "| Metric | Target | " + " | ".join(names[r["db"]] for r in results) + " |",
           "|---|---|" + "---|" * len(results)]
    for key, (label, _target) in METRICS.items():
        out.append(f"| {label} | {target_text(key)} | " + " | ".join(cell(r, key) for r in results) + " |")
    out += ["", "How it is measured:", "",
            "- Every request goes through the real route with the Flask test client (routing, session "
            "login of one operator, view, queries, template rendering; CSRF off); the time is from the "
            "call to the complete response, in the benchmark process, with a fresh database session per "
            "request. `gc.freeze()` after set-up, as the gunicorn workers do.",
            "- PostgreSQL: `VACUUM ANALYZE` after set-up (autovacuum's job in production; the statistics "
            "read an index-only scan of `ix_clearance_items_checkpoint_key_status`). SQLite: `ANALYZE`.",
            "- Search: a different random graduate per run; the partial name is the first two characters "
            "of the graduate's name (pick list of up to 50).",
            "- Statistics: the panel as the htmx refresh fetches it (`HX-Request`), the full page, the "
            "drill-down of one college into classes, the first page of the pending list of one item, the "
            "export of every pending / not-passed item of 学院离校点 (" + ", ".join(
                f"{names[r['db']]} {len(r['times'].get('stats_export', []))} runs" for r in results) + ").",
            "- Batches: " + ", ".join(f"{names[r['db']]} via {r['batch_via']}" for r in results)
            + "; a different full class (`student_id_card`) / dorm room (`electricity`) per run.",
            "- Excel: " + ", ".join(f"{names[r['db']]} {r['excel_rows']} rows per file" for r in results)
            + " (学号, 结果 通过) for `dorm_checkout` at 宿管中心; upload + preview is `POST /desk/excel` "
            "(parse, verdicts, stored preview), then the preview page, then `POST /desk/excel/<id>/confirm`; "
            "the total is the three together."]
    for r in results:
        for note in r["notes"]:
            out.append(f"- {names[r['db']]}: {note}")
    out.append("")
    out.append("Per-run times (ms): " + "; ".join(
        f"{names[r['db']]} " + ", ".join(
            f"{k} " + " ".join(f"{v:.0f}" for v in r["times"][k]) for k in ("stats_panel_college", "batch_class",
                                                                              "batch_dorm") if r["times"].get(k))
        for r in results) + ".")
    return "\n".join(out)




def main(argv: list[str] | None = None, cmd: str | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench --suite desk", description=__doc__.split("\n")[0])
    common_arguments(p, PG_URL)
    p.add_argument("--runs", type=int, default=10, help="timed runs per metric (default 10, plus a warm-up)")
    args = p.parse_args(argv)

    mach = machine()
    cmd = cmd or command_line()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results: list[dict[str, Any]] = []
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        mach, cmd, results, kinds = saved["machine"], saved["command"], saved["results"], []
    for kind in kinds:
        results.append(run_one(kind, args.graduates, args))
        if args.json:
            save_json(args.json, mach, cmd, results)
    print()
    print(text_table(results))
    write_section(args.out, BLOCK, markdown(results, mach, cmd))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
