"""Engine core benchmark (issue 2): starting a cohort, batch confirmations, bytes per graduate.

    python -m bench [--db sqlite|postgres|both] [--graduates 20000] [--out docs/performance.md]

For each database: a fresh database (SQLite file in a temp dir; PostgreSQL in its own
schema ``lixiao_bench``, dropped at the end), the default checkpoints, cohort 2026 and the
three default diagrams published; N graduates bulk-inserted; then

1. ``start_cohort`` for the whole cohort (wall time);
2. pure SpiffWorkflow doing the same work in memory (create, run engine steps, auto-pass,
   state-only ``json.dumps(to_dict)``) for the same graduates and diagrams -> ratio;
3. ``apply(ids, 'student_id_card', 'confirm')`` for classes of 40 and
   ``apply(ids, 'electricity', 'confirm')`` for dorm rooms of 6 (median, p95);
4. database bytes per graduate.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import math
import os
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from bench.data import graduate_rows, split_counts
from bench.report import command_line, common_arguments, machine, save_json, write_section

ROOT = Path(__file__).resolve().parent.parent
BPMN = {
    "undergraduate": ROOT / "bpmn" / "undergraduate.bpmn",
    "postgraduate_dual": ROOT / "bpmn" / "postgraduate_dual.bpmn",
    "postgraduate_single": ROOT / "bpmn" / "postgraduate_single.bpmn",
}
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "lixiao_bench"
TARGETS = {"ratio": 1.5, "class_ms": 100.0, "dorm_ms": 40.0, "bytes": 10 * 1024}
BLOCK = "engine-core"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- databases
@contextlib.contextmanager
def database(kind: str, pg_url: str, keep: bool = False, schema: str = PG_SCHEMA) -> Iterator[str]:
    """A fresh SQLite file, or a fresh ``schema`` in the PostgreSQL database (dropped afterwards
    unless ``keep``); yields the database URL. Shared by every benchmark suite."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"{schema.replace('_', '-')}-") as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite"
        return
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        sep = "&" if "?" in pg_url else "?"
        yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def profile_text(prof: cProfile.Profile, limit: int = 15) -> str:
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


# ----------------------------------------------------------------------------- pure baseline
def pure_baseline(attrs_by_graduate: list[tuple[str, dict[str, Any]]],
                  profile: bool = False) -> dict[str, Any]:
    """The same work as ``start_cohort`` with SpiffWorkflow only, in memory.

    Same diagrams, same sandboxed script engine (so gateway conditions cost the same),
    same auto-pass rules (read from the diagrams' extension properties), state-only
    serializer as in the notes, ``json.dumps(to_dict(wf))``. No database, no projection.
    """
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
    from SpiffWorkflow.spiff.parser import SpiffBpmnParser
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
    from SpiffWorkflow.util.task import TaskState

    from app.workflow.engine import script_engine

    class StateOnly(BpmnWorkflowConverter):
        def to_dict(self, workflow):
            dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
            dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
            dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
            return dct

        def from_dict(self, dct, spec=None, subprocess_specs=None):
            wf = self.target_class(spec, subprocess_specs or {}, deserializing=True)
            wf.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=wf)
            wf.task_tree = wf.tasks.get(UUID(dct["root"]))
            self.set_default_attributes(wf, dct)
            self.subprocesses_from_dict(dict(dct["subprocesses"]), wf)
            wf.bpmn_events = self.registry.restore(dct.get("bpmn_events", []))
            return wf

    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = StateOnly
    ser = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))

    t0 = time.perf_counter()
    specs = {}
    for gtype, path in BPMN.items():
        parser = SpiffBpmnParser()
        parser.add_bpmn_file(str(path))
        pid = parser.get_process_ids()[0]
        spec = parser.get_spec(pid)
        rules = {name: ts.extensions["properties"]["auto_pass"]
                 for name, ts in spec.task_specs.items()
                 if "auto_pass" in (getattr(ts, "extensions", None) or {}).get("properties", {})}
        specs[gtype] = (spec, parser.get_subprocess_specs(pid), rules)
    parse_s = time.perf_counter() - t0

    autos = 0
    total_bytes = 0
    prof = cProfile.Profile() if profile else None
    gc.collect()
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    for gtype, attrs in attrs_by_graduate:
        spec, subs, rules = specs[gtype]
        engine = script_engine(attrs)
        wf = BpmnWorkflow(spec, subs, script_engine=engine)
        wf.do_engine_steps()
        progress = True
        while progress:
            progress = False
            for task in wf.get_tasks(state=TaskState.READY):
                rule = rules.get(task.task_spec.name)
                if rule and engine.environment.evaluate(rule, {}):
                    task.internal_data["lx"] = {"auto": True}
                    task.run()
                    wf.do_engine_steps()
                    autos += 1
                    progress = True
                    break
        total_bytes += len(json.dumps(ser.to_dict(wf)))
    if prof:
        prof.disable()
    elapsed = time.perf_counter() - t0
    return {"seconds": elapsed, "parse_s": parse_s, "auto_passes": autos,
            "json_bytes": total_bytes / max(1, len(attrs_by_graduate)),
            "profile": profile_text(prof) if prof else None}


# ----------------------------------------------------------------------------- app side
def insert_graduates(cohort_id: int, n: int, seed: int = 2026) -> float:
    from app.extensions import db
    from app.graduates.models import Graduate

    rows = graduate_rows(cohort_id, n, seed=seed)
    t0 = time.perf_counter()
    for i in range(0, len(rows), 2000):
        db.session.execute(sa.insert(Graduate), rows[i:i + 2000])
    db.session.commit()
    return time.perf_counter() - t0


def setup_cohort(year: int):
    from app.extensions import db
    from app.graduates.models import Cohort
    from app.workflow.services import publish

    cohort = Cohort(year=year, name=f"{year}届")
    db.session.add(cohort)
    db.session.commit()
    for gtype, path in BPMN.items():
        publish(path.read_bytes(), cohort, gtype, "bench", filename=path.name)
    return cohort.id


def batch_groups(cohort_id: int, key: str, by: tuple[str, ...], size: int) -> list[list[int]]:
    """Groups (class / dorm room) of exactly ``size`` undergraduates whose ``key`` item is pending."""
    from app.extensions import db
    from app.graduates.models import Graduate
    from app.workflow.models import ClearanceItem

    cols = [getattr(Graduate, c) for c in by]
    pending = sa.func.sum(sa.case((ClearanceItem.status == "pending", 1), else_=0))
    stmt = (sa.select(*cols).select_from(Graduate)
            .outerjoin(ClearanceItem, sa.and_(ClearanceItem.graduate_id == Graduate.id,
                                              ClearanceItem.task_key == key))
            .where(Graduate.cohort_id == cohort_id, Graduate.gtype == "undergraduate",
                   cols[-1] != "")
            .group_by(*cols).having(sa.func.count() == size).having(pending == size)
            .order_by(*cols))
    groups = []
    for row in db.session.execute(stmt):
        cond = [c == v for c, v in zip(cols, row)]
        groups.append(list(db.session.scalars(
            sa.select(Graduate.id).where(Graduate.cohort_id == cohort_id, *cond).order_by(Graduate.id))))
    return groups


def spread(groups: list, k: int) -> list:
    """``k`` groups spread over the list (different colleges / buildings)."""
    if len(groups) <= k:
        return list(groups)
    step = len(groups) / k
    return [groups[int(i * step)] for i in range(k)]


def time_apply(groups: list[list[int]], key: str, actor, prof: cProfile.Profile | None = None) -> list[float]:
    from app.extensions import db
    from app.workflow.services import apply

    times = []
    for ids in groups:
        db.session.remove()          # a fresh session, as in a request
        if prof:
            prof.enable()
        t0 = time.perf_counter()
        res = apply(ids, key, "confirm", actor)
        dt = time.perf_counter() - t0
        if prof:
            prof.disable()
        if len(res.succeeded) != len(ids):
            raise RuntimeError(f"{key}: {len(res.failed)} of {len(ids)} refused: {res.failed[:2]}")
        times.append(dt * 1000)
    return times


def time_rebuilds(graduate_ids: list[int], actor) -> tuple[list[float], list[float]]:
    """update_attributes(has_national_loan toggled) and reopen(student_id_card) per graduate, each
    timed from the call to its commit; the graduates' student ID was confirmed by the class runs."""
    from app.extensions import db
    from app.graduates.models import Graduate
    from app.workflow.services import apply, update_attributes

    reroute, reopen = [], []
    for gid in graduate_ids:
        db.session.remove()
        loan = db.session.scalar(sa.select(Graduate.has_national_loan).where(Graduate.id == gid))
        t0 = time.perf_counter()
        update_attributes(gid, {"has_national_loan": not loan}, actor)
        reroute.append((time.perf_counter() - t0) * 1000)
        db.session.remove()
        t0 = time.perf_counter()
        apply([gid], "student_id_card", "reopen", actor, reason="bench")
        reopen.append((time.perf_counter() - t0) * 1000)
    db.session.remove()
    return reroute, reopen


def prepared_cohort(kind: str, n: int, res: dict[str, Any]) -> int:
    """In the app context of a fresh database: the schema, the default checkpoints, cohort 2026 with
    the default diagrams and ``n`` graduates, not started (``res``: ``server``, ``insert_s``)."""
    from app.extensions import db
    from app.workflow import services
    from app.workflow.services import ensure_default_checkpoints

    db.create_all()
    services._VERSION_CACHE.clear()   # version ids are per database
    res["server"] = (f"SQLite {sqlite3.sqlite_version}" if kind == "sqlite" else
                     "PostgreSQL " + db.session.scalar(sa.text("SHOW server_version")).split()[0])
    ensure_default_checkpoints()
    cohort_id = setup_cohort(2026)
    log(f"{kind}: inserting {n} graduates")
    res["insert_s"] = insert_graduates(cohort_id, n)
    return cohort_id


def started_cohort(kind: str, n: int, res: dict[str, Any]) -> int:
    """:func:`prepared_cohort`, then every graduate started (``res["start_s"]``). The cohort's id."""
    from app.extensions import db
    from app.graduates.models import Cohort
    from app.workflow.services import Actor, start_cohort

    cohort_id = prepared_cohort(kind, n, res)
    db.session.remove()
    log(f"{kind}: start_cohort")
    t0 = time.perf_counter()
    report = start_cohort(db.session.get(Cohort, cohort_id), Actor.system("bench"))
    res["start_s"] = time.perf_counter() - t0
    if report.failed or report.started != n:
        raise RuntimeError(f"start_cohort: started {report.started}/{n}, failed {report.failed[:3]}")
    return cohort_id


def analyze(kind: str, schema: str = PG_SCHEMA) -> None:
    from app.extensions import db

    db.session.remove()
    if kind == "postgres":
        names = ", ".join(f"{schema}.{t.name}" for t in db.metadata.sorted_tables)
        db.session.execute(sa.text(f"ANALYZE {names}"))
    else:
        db.session.execute(sa.text("ANALYZE"))
    db.session.commit()


def measure_bytes(kind: str, url: str, n: int) -> dict[str, Any]:
    from app.extensions import db

    table_names = [t.name for t in db.metadata.sorted_tables]
    per_table: dict[str, int] = {}
    if kind == "sqlite":
        db.session.remove()
        db.engine.dispose()
        path = url[len("sqlite:///"):]
        con = sqlite3.connect(path)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("VACUUM")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            owner = {name: tbl for name, tbl in con.execute("SELECT name, tbl_name FROM sqlite_master")}
            for name, size in con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
                per_table[owner.get(name, name)] = per_table.get(owner.get(name, name), 0) + size
        except sqlite3.DatabaseError:
            per_table = {}
        con.close()
        total = os.path.getsize(path)
    else:
        rows = db.session.execute(sa.text(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r'"),
            {"s": PG_SCHEMA}).all()
        per_table = {name: size for name, size in rows if name in table_names}
        total = sum(per_table.values())
        db.session.rollback()
    workflow = sum(per_table.get(t, 0) for t in ("clearances", "clearance_items", "events"))
    return {"total": total, "per_graduate": total / n, "workflow_per_graduate": workflow / n if per_table else None,
            "per_table": {k: v for k, v in sorted(per_table.items(), key=lambda kv: -kv[1])}}


def run_one(kind: str, n: int, args) -> dict[str, Any]:
    from app import create_app
    from app.core.enums import Source
    from app.extensions import db
    from app.graduates.attributes import attributes_of
    from app.graduates.models import Cohort, Graduate
    from app.workflow.models import Clearance, ClearanceItem, Event
    from app.workflow.services import Actor, start_cohort

    res: dict[str, Any] = {"db": kind, "n": n}
    with database(kind, args.pg_url, keep=args.keep) as url:
        # A fresh SQLALCHEMY_ENGINE_OPTIONS: create_app() setdefault()s connect_args={"timeout": 30}
        # for SQLite into DefaultConfig's shared class-level dict, which would then leak into
        # the PostgreSQL app created next in this process (psycopg: invalid option "timeout").
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                          "SQLALCHEMY_ENGINE_OPTIONS": {}})
        with app.app_context():
            cohort_id = prepared_cohort(kind, n, res)

            # 1. start the cohort ---------------------------------------------------------
            db.session.remove()
            cohort = db.session.get(Cohort, cohort_id)
            log(f"{kind}: start_cohort")
            gc.collect()
            t0 = time.perf_counter()
            report = start_cohort(cohort, Actor.system("bench"))
            res["start_s"] = time.perf_counter() - t0
            if report.failed or report.started != n:
                raise RuntimeError(f"start_cohort: started {report.started}/{n}, failed {report.failed[:3]}")
            res["start_ms_per_graduate"] = res["start_s"] * 1000 / n
            db.session.remove()
            res["app_auto_passes"] = db.session.scalar(
                sa.select(sa.func.count()).select_from(Event).where(Event.action == "auto_pass"))
            res["items_per_graduate"] = db.session.scalar(
                sa.select(sa.func.count()).select_from(ClearanceItem)) / n
            res["state_bytes"] = float(db.session.scalar(sa.select(sa.func.avg(sa.func.length(Clearance.state)))))
            res["status_counts"] = dict(Counter(dict(db.session.execute(
                sa.select(ClearanceItem.status, sa.func.count()).group_by(ClearanceItem.status)).all())))

            # 2. pure SpiffWorkflow on the same graduates --------------------------------------
            attrs = [(g.gtype, attributes_of(g)) for g in db.session.scalars(
                sa.select(Graduate).where(Graduate.cohort_id == cohort_id).order_by(Graduate.id))]
            db.session.remove()
            log(f"{kind}: pure SpiffWorkflow baseline")
            pure = pure_baseline(attrs)
            del attrs
            res["pure_s"] = pure["seconds"]
            res["pure_ms_per_graduate"] = pure["seconds"] * 1000 / n
            res["pure_parse_s"] = pure["parse_s"]
            res["pure_auto_passes"] = pure["auto_passes"]
            res["pure_json_bytes"] = pure["json_bytes"]
            res["ratio"] = res["start_s"] / pure["seconds"]

            # 3. batch confirmations ------------------------------------------------------------
            actor = Actor(None, "bench operator", Source.BATCH)
            classes = batch_groups(cohort_id, "student_id_card", ("class_name",), 40)
            dorms = batch_groups(cohort_id, "electricity", ("dorm_building", "dorm_room"), 6)
            runs = args.runs
            # as in a gunicorn worker (gunicorn.conf.py post_worker_init): start-up objects frozen
            gc.collect()
            gc.freeze()
            if len(classes) < 2 * runs + 2 or len(dorms) < 2 * runs + 2:
                log(f"{kind}: only {len(classes)} full classes / {len(dorms)} full dorms available")
            cls_pick, dorm_pick = spread(classes, 2 * runs + 2), spread(dorms, 2 * runs + 2)
            half_c, half_d = len(cls_pick) // 2, len(dorm_pick) // 2
            log(f"{kind}: confirm student_id_card x{half_c - 1} classes, electricity x{half_d - 1} dorms, "
                "then ANALYZE and again")
            # a) right after start_cohort, as the app leaves the database (no planner statistics
            #    unless autovacuum got to it); b) after ANALYZE (steady state).
            for suffix, cls_part, dorm_part in (("", cls_pick[:half_c], dorm_pick[:half_d]),
                                                ("_analyzed", cls_pick[half_c:], dorm_pick[half_d:])):
                if suffix:
                    analyze(kind)
                time_apply(cls_part[:1], "student_id_card", actor)     # warm-up (caches), not counted
                time_apply(dorm_part[:1], "electricity", actor)
                res["class_ms" + suffix] = time_apply(cls_part[1:], "student_id_card", actor)
                res["dorm_ms" + suffix] = time_apply(dorm_part[1:], "electricity", actor)
            used = {tuple(g) for g in cls_pick + dorm_pick}

            # 3b. the engine rules' rebuilds (issue 9): a roster correction that re-routes (a gateway
            #     attribute), and a re-open of a confirmed item, one graduate per call
            res["reroute_ms"], res["reopen_ms"] = time_rebuilds([g[0] for g in cls_pick[1:half_c]], actor)
            res["autovacuum"] = (db.session.scalar(sa.text("SHOW autovacuum")) if kind == "postgres" else "-")
            db.session.rollback()

            # 4. bytes ---------------------------------------------------------------------------
            log(f"{kind}: measuring size")
            res["bytes"] = measure_bytes(kind, url, n)

            # 5. optional profiles (after the size, extra rows) ---------------------------------
            if args.profile:
                res["profiles"] = run_profiles(kind, min(n, args.profile_graduates), classes, dorms, used, actor)
            db.session.remove()
            db.engine.dispose()
    return res


def run_profiles(kind, n, classes, dorms, used, actor) -> dict[str, str]:
    from app.extensions import db
    from app.graduates.attributes import attributes_of
    from app.graduates.models import Cohort, Graduate
    from app.workflow.services import Actor, start_cohort

    out = {}
    cid = setup_cohort(2027)
    insert_graduates(cid, n, seed=2027)
    db.session.remove()
    log(f"{kind}: profiling start_cohort for {n} graduates")
    prof = cProfile.Profile()
    cohort = db.session.get(Cohort, cid)
    prof.enable()
    start_cohort(cohort, Actor.system("bench"))
    prof.disable()
    out["start_cohort"] = profile_text(prof)
    attrs = [(g.gtype, attributes_of(g)) for g in db.session.scalars(
        sa.select(Graduate).where(Graduate.cohort_id == cid).order_by(Graduate.id))]
    out["pure"] = pure_baseline(attrs, profile=True)["profile"]
    free_cls = [g for g in classes if tuple(g) not in used][:10]
    free_dorm = [g for g in dorms if tuple(g) not in used][:10]
    for name, groups, key in (("class", free_cls, "student_id_card"), ("dorm", free_dorm, "electricity")):
        if groups:
            prof = cProfile.Profile()
            time_apply(groups, key, actor, prof)
            out[f"apply_{name}"] = profile_text(prof)
    return out


# ----------------------------------------------------------------------------- output
def ok(value: float, target: float) -> str:
    return "✓" if value <= target else "✗"


def metric_rows(results: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    def per(fn):
        return [fn(r) for r in results]

    kb = 1024
    return [
        ("start_cohort, whole cohort (wall)", "", per(lambda r: f"{r['start_s']:.1f} s")),
        ("start_cohort per graduate", "", per(lambda r: f"{r['start_ms_per_graduate']:.2f} ms")),
        ("pure SpiffWorkflow per graduate", "", per(lambda r: f"{r['pure_ms_per_graduate']:.2f} ms")),
        ("ratio app / pure", f"≤ {TARGETS['ratio']}",
         per(lambda r: f"{r['ratio']:.2f} {ok(r['ratio'], TARGETS['ratio'])}")),
        *[(f"confirm {what}, median / p95{label}", f"≤ {TARGETS[t]:.0f} ms",
           per(lambda r, k=k, t=t: f"{statistics.median(r[k]):.0f} / {percentile(r[k], 95):.0f} ms "
                                   f"{ok(percentile(r[k], 95), TARGETS[t])}"))
          for label, sfx in ((" (right after start)", ""), (" (after ANALYZE)", "_analyzed"))
          for what, k, t in (("class of 40", "class_ms" + sfx, "class_ms"), ("dorm of 6", "dorm_ms" + sfx, "dorm_ms"))],
        *[(f"{what}, one graduate, median / p95", "",
           per(lambda r, k=k: f"{statistics.median(r[k]):.0f} / {percentile(r[k], 95):.0f} ms" if r.get(k) else "-"))
          for what, k in (("roster correction that re-routes (rebuild)", "reroute_ms"),
                          ("re-open of a confirmed item (rebuild)", "reopen_ms"))],
        ("database bytes per graduate", f"≤ {TARGETS['bytes'] // kb} KB",
         per(lambda r: f"{r['bytes']['per_graduate'] / kb:.2f} KB "
                       f"{ok(r['bytes']['per_graduate'], TARGETS['bytes'])}")),
        ("… of which clearances + items + events", "",
         per(lambda r: "?" if r["bytes"]["workflow_per_graduate"] is None
             else f"{r['bytes']['workflow_per_graduate'] / kb:.2f} KB")),
        ("engine state blob (zlib JSON), average", "", per(lambda r: f"{r['state_bytes']:.0f} B")),
        ("pure state-only JSON (uncompressed), average", "", per(lambda r: f"{r['pure_json_bytes']:.0f} B")),
        ("bulk insert of the graduates (not in start)", "", per(lambda r: f"{r['insert_s']:.1f} s")),
        ("auto-passes app / pure (must match)", "",
         per(lambda r: f"{r['app_auto_passes']} / {r['pure_auto_passes']}")),
    ]


def text_table(results) -> str:
    rows = metric_rows(results)
    head = ["metric", "target"] + [r["db"] for r in results]
    body = [[m, t, *v] for m, t, v in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def markdown(results, mach: dict[str, str], cmd: str) -> str:
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    n = results[0]["n"]
    counts = split_counts(n)
    out = ["## Engine core (issue 2)", ""]
    out.append(f"Generated by `{cmd}` on {mach['date']}.")
    out.append("")
    out.append(f"- Machine: {mach['nproc']} CPUs ({mach['cpu']}), {mach['python']}, {mach['os']}; "
               f"load average at start {mach['load']}.")
    out.append("- Databases: " + ", ".join(r["server"] for r in results) + ".")
    out.append(f"- N = {n} graduates: {counts['undergraduate']} undergraduates, "
               f"{counts['postgraduate_dual']} postgraduate_dual, {counts['postgraduate_single']} "
               "postgraduate_single (classes of 40, rooms of 6; see `bench/data.py`).")
    out.append("")
    out.append("| Metric | Target | " + " | ".join(names[r["db"]] for r in results) + " |")
    out.append("|---|---|" + "---|" * len(results))
    for m, t, vals in metric_rows(results):
        out.append(f"| {m} | {t} | " + " | ".join(vals) + " |")
    out.append("")
    runs = len(results[0]["class_ms"])
    out.append(f"Batch confirmations: {runs} different classes / dorm rooms per row (after one warm-up run), "
               "`apply()` called in-process with a fresh session, timed from the call to the commit.")
    out.append("")
    out.append("Bytes per graduate by table (indexes included; SQLite after VACUUM via `dbstat`, "
               "PostgreSQL `pg_total_relation_size`):")
    out.append("")
    tables = list(dict.fromkeys(t for r in results for t in r["bytes"]["per_table"]))
    out.append("| Table | " + " | ".join(names[r["db"]] for r in results) + " |")
    out.append("|---|" + "---|" * len(results))
    for t in tables:
        out.append(f"| {t} | " + " | ".join(
            f"{r['bytes']['per_table'].get(t, 0) / n:.0f} B" for r in results) + " |")
    out.append("")
    out.append("How it is measured:")
    out.append("")
    out.append("- *start_cohort*: `start_cohort(cohort, Actor.system('bench'))` for the whole cohort, "
               "wall time including reading the graduates and inserting clearances, items and events "
               "(commits every 500).")
    out.append("- *pure*: the same graduates and diagrams with SpiffWorkflow only, in memory: spec parsed "
               "once per type (not timed); per graduate `BpmnWorkflow(...)` with the app's sandboxed "
               "`script_engine(attrs)`, `do_engine_steps()`, run READY tasks whose auto-pass rule "
               "holds (+ `do_engine_steps()`), `json.dumps(state_only_serializer.to_dict(wf))`.")
    out.append("- *ratio*: start_cohort wall time / pure time; it is the cost of the projection, "
               "audit rows, compression and the database round trips.")
    out.append("- *confirm*: ✓/✗ is judged on p95 (nearest rank). \"Right after start\" is the "
               "database as `start_cohort` leaves it: PostgreSQL has no planner statistics for the new "
               "rows until (auto)ANALYZE runs (autovacuum here: "
               + ", ".join(f"{names[r['db']]} {r.get('autovacuum', '?')}" for r in results) + "). "
               "Per-run times (ms): " + "; ".join(
                   f"{names[r['db']]} class {', '.join(f'{x:.0f}' for x in r['class_ms'])} | after ANALYZE "
                   f"{', '.join(f'{x:.0f}' for x in r['class_ms_analyzed'])}; "
                   f"dorm {', '.join(f'{x:.0f}' for x in r['dorm_ms'])} | after ANALYZE "
                   f"{', '.join(f'{x:.0f}' for x in r['dorm_ms_analyzed'])}" for r in results) + ".")
    out.append("- *re-route / re-open*: for the graduates of the timed classes (student ID confirmed), "
               "`update_attributes(id, {'has_national_loan': toggled})` (a gateway attribute: the instance "
               "is rebuilt from a fresh start and its decisions replayed, docs/requirements.md) and then "
               "`apply([id], 'student_id_card', 'reopen')`, each from the call to its commit.")
    out.append("- *bytes*: SQLite file size after `VACUUM` / N; PostgreSQL sum of "
               "`pg_total_relation_size` of the app's tables in schema `lixiao_bench` / N.")
    return "\n".join(out)




def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    common_arguments(p, PG_URL)
    p.add_argument("--runs", type=int, default=10, help="batch confirmations timed per kind (default 10)")
    p.add_argument("--profile", action="store_true",
                   help="also print cProfile top 15 of start_cohort, pure and apply (extra cohort)")
    p.add_argument("--profile-graduates", type=int, default=2000)
    args = p.parse_args(argv)

    mach = machine()
    cmd = command_line() if argv is None else "python -m bench " + " ".join(argv)
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = []
    if args.from_json:   # re-render a saved run, measure nothing
        saved = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        mach, cmd, results, kinds = saved["machine"], saved["command"], saved["results"], []
    for kind in kinds:
        results.append(run_one(kind, args.graduates, args))
        if args.json:   # after each database, so a failure later keeps the figures
            save_json(args.json, mach, cmd, results)
    print()
    print(text_table(results))
    for r in results:
        for name, text in (r.get("profiles") or {}).items():
            print(f"\n===== {r['db']}: profile {name} =====\n{text}")
    write_section(args.out, BLOCK, markdown(results, mach, cmd))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
