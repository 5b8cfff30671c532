"""Use cases on graduates' clearances. Each public function is one transaction.

Every change loads the engine state under a row lock (PostgreSQL) and saves, in the
same transaction, the new engine state with a version check (everywhere), the
changed projection rows and one audit event per changed item.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, TypeVar

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError, OperationalError

from app.core.domain import DomainError
from app.core.enums import ClearanceStatus, ItemStatus, Source
from app.core.time import utcnow
from app.extensions import db
from app.graduates.attributes import ATTRIBUTES, attributes_of
from app.graduates.models import Cohort, Graduate
from app.workflow.engine import SERIALIZER_VERSION, ActionRefused, Instance, ItemState, cached_process
from app.workflow.models import Checkpoint, Clearance, ClearanceItem, Event, ProcessVersion
from app.workflow.validate import Problem, validate

ACTIONS = ("confirm", "reject", "reopen", "waive", "unwaive")
_T = TypeVar("_T")


@dataclass(frozen=True)
class Actor:
    """Who acts, for the audit trail."""

    user_id: int | None
    label: str
    source: str = Source.MANUAL
    remote_addr: str | None = None

    @classmethod
    def system(cls, label: str = "system", source: str = Source.SYSTEM) -> "Actor":
        return cls(None, label, source, None)

    @classmethod
    def for_user(cls, user, source: str = Source.MANUAL, remote_addr: str | None = None) -> "Actor":
        """Audiences pass the client address (``app.core.web.actor_for`` reads it off the request)."""
        label = getattr(user, "display_name", "") or getattr(user, "username", "")
        return cls(getattr(user, "id", None), label, source, remote_addr)


class PublishRefused(DomainError):
    code = "publish_refused"
    status = 400

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class ConcurrentChange(DomainError):
    """Another transaction changed the clearance first (version check failed)."""

    code = "concurrent_change"


@dataclass
class Outcome:
    graduate_id: int
    ok: bool
    code: str = "ok"
    message: str = ""
    old: str | None = None
    new: str | None = None


@dataclass
class BatchResult:
    outcomes: list[Outcome] = field(default_factory=list)
    applied: bool = False

    @property
    def succeeded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


class BatchRefused(DomainError):
    code = "batch_refused"

    def __init__(self, result: BatchResult):
        super().__init__(f"{len(result.failed)} of {len(result.outcomes)} refused")
        self.result = result


# ----------------------------------------------------------------------------- checkpoints
def lane_names() -> dict[str, str]:
    """Lane name (checkpoint name or key) -> checkpoint key, for the validator."""
    from app.workflow.catalog import SPECIAL_CHECKPOINTS

    out: dict[str, str] = {}
    for key, name in db.session.execute(sa.select(Checkpoint.key, Checkpoint.name)):
        if key in SPECIAL_CHECKPOINTS:
            continue
        out[name] = key
        out[key] = key
    return out


def ensure_default_checkpoints() -> int:
    """Insert catalogue checkpoints that are missing (used by the migration and tests)."""
    from app.workflow.catalog import DEFAULT_CHECKPOINTS, DEFAULT_CHECKPOINTS_EN

    existing = set(db.session.scalars(sa.select(Checkpoint.key)))
    added = 0
    for order, (key, name, name_en, dept, place, phone, hours, instr) in enumerate(DEFAULT_CHECKPOINTS):
        if key in existing:
            continue
        place_en, hours_en, instr_en = DEFAULT_CHECKPOINTS_EN.get(key, ("", "", ""))
        db.session.add(Checkpoint(key=key, name=name, name_en=name_en, department=dept, place=place,
                                  phone=phone, office_hours=hours, instructions=instr, place_en=place_en,
                                  office_hours_en=hours_en, instructions_en=instr_en,
                                  sort_order=(order + 1) * 10))
        added += 1
    db.session.commit()
    return added


def validate_bpmn(data: bytes, filename: str = "process.bpmn"):
    from flask import current_app

    return validate(data, lane_names(), max_bytes=current_app.config["BPMN_MAX_BYTES"], filename=filename)


# ----------------------------------------------------------------------------- publishing
def publish(data: bytes, cohort: Cohort, gtype: str, published_by: str,
            filename: str = "process.bpmn") -> ProcessVersion:
    """Validate and store a new immutable version; refuses a diagram with problems."""
    from app.core.enums import GraduateType

    if gtype not in set(GraduateType):
        raise PublishRefused([Problem("", 0, _("unknown graduate type %(t)s", t=gtype))])
    result = validate_bpmn(data, filename)
    if not result.ok:
        raise PublishRefused(result.problems)
    keys = {m["checkpoint"] for m in result.items}
    ids = dict(db.session.execute(sa.select(Checkpoint.key, Checkpoint.id).where(Checkpoint.key.in_(keys))).all())
    for m in result.items:
        m["checkpoint_id"] = ids[m["checkpoint"]]
    sha = hashlib.sha256(data).hexdigest()
    latest = db.session.scalar(
        sa.select(ProcessVersion).where(ProcessVersion.cohort_id == cohort.id, ProcessVersion.gtype == gtype)
        .order_by(ProcessVersion.version.desc()).limit(1))
    if latest is not None and latest.sha256 == sha:
        return latest  # publishing the same bytes twice is a no-op
    version = ProcessVersion(
        cohort_id=cohort.id, gtype=gtype, version=(latest.version + 1) if latest else 1,
        process_id=result.process_id, filename=filename[:200], bpmn=bytes(data), sha256=sha,
        items_meta=result.items, published_by=published_by[:64],
    )
    db.session.add(version)
    db.session.add(Event(action="publish", new=f"{gtype} v{version.version}", reason=filename[:200],
                         source=Source.SYSTEM, actor=published_by[:64]))
    db.session.commit()
    return version


def latest_versions(cohort_id: int) -> dict[str, ProcessVersion]:
    out: dict[str, ProcessVersion] = {}
    for pv in db.session.scalars(
        sa.select(ProcessVersion).where(ProcessVersion.cohort_id == cohort_id).order_by(ProcessVersion.version)
    ):
        out[pv.gtype] = pv
    return out


_VERSION_CACHE: dict[int, tuple[Any, dict[str, dict[str, Any]]]] = {}


def _runtime(pv: ProcessVersion):
    """(parsed spec, meta by key) for a published version; cached, versions are immutable."""
    hit = _VERSION_CACHE.get(pv.id)
    if hit is None:
        parsed = cached_process(pv.sha256, pv.bpmn, pv.process_id)
        hit = (parsed, pv.meta_by_key())
        _VERSION_CACHE[pv.id] = hit
    return hit


def _runtime_by_id(version_id: int):
    hit = _VERSION_CACHE.get(version_id)
    if hit is not None:
        return hit
    return _runtime(db.session.get(ProcessVersion, version_id))


# ----------------------------------------------------------------------------- starting
@dataclass
class StartReport:
    started: int = 0
    already: int = 0
    no_process: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)


def start_graduates(graduates: Sequence[Graduate], versions: dict[str, ProcessVersion],
                    actor: Actor) -> StartReport:
    """Start clearances for ``graduates`` (without one) in one transaction."""
    report = StartReport()
    now = utcnow()
    clear_rows, pending = [], []
    for g in graduates:
        pv = versions.get(g.gtype)
        if pv is None:
            report.no_process[g.gtype] = report.no_process.get(g.gtype, 0) + 1
            continue
        parsed, meta = _runtime(pv)
        attrs = attributes_of(g)
        try:
            inst = Instance.start(parsed, meta, attrs)
        except Exception as exc:  # noqa: BLE001 - a diagram/data problem for this graduate only
            report.failed.append((g.student_no, str(exc)[:200]))
            continue
        items = inst.items()
        clear_rows.append({
            "graduate_id": g.id, "process_version_id": pv.id, "state": inst.dump(),
            "serializer_version": SERIALIZER_VERSION, "status": inst.status(items), "version": 1,
            "started_at": now, "updated_at": now,
        })
        pending.append((g, pv, meta, items))
    if not clear_rows:
        return report
    ids = db.session.execute(
        sa.insert(Clearance).returning(Clearance.id, Clearance.graduate_id, sort_by_parameter_order=True),
        clear_rows,
    ).all()
    item_rows, event_rows = [], []
    for (cid, gid), (g, pv, meta, items) in zip(ids, pending):
        event_rows.append(_event_row(gid, cid, None, "start", None, ClearanceStatus.IN_PROGRESS,
                                     f"{pv.gtype} v{pv.version}", actor, now))
        for key, st in items.items():
            m = meta[key]
            auto = st.auto and st.status == ItemStatus.PASSED
            item_rows.append({
                "clearance_id": cid, "graduate_id": gid, "checkpoint_id": m["checkpoint_id"],
                "task_key": key, "sort_order": m["order"], "status": st.status, "reason": st.reason,
                "blocked_by": ",".join(st.blocked_by) or None, "source": Source.AUTO if auto else None,
                "actor_id": None, "updated_at": now if auto else None, "waived_until": None,
            })
            if auto:
                event_rows.append(_event_row(gid, cid, key, "auto_pass", ItemStatus.PENDING, ItemStatus.PASSED,
                                             None, Actor.system("auto", Source.AUTO), now))
    # render_nulls: one INSERT batch, not a new one whenever the pattern of NULL columns changes
    db.session.execute(sa.insert(ClearanceItem).execution_options(render_nulls=True), item_rows)
    db.session.execute(sa.insert(Event).execution_options(render_nulls=True), event_rows)
    report.started = len(clear_rows)
    return report


def start_cohort(cohort: Cohort, actor: Actor, *, chunk: int = 500,
                 progress: Callable[[int, int], None] | None = None) -> StartReport:
    """Start every graduate of ``cohort`` without a clearance; safe to re-run (commits per chunk)."""
    cohort_id = cohort.id
    total_report = StartReport()
    todo_ids = list(db.session.scalars(
        sa.select(Graduate.id).where(Graduate.cohort_id == cohort_id, ~Graduate.clearance.has())
        .order_by(Graduate.id)))
    total_report.already = db.session.scalar(
        sa.select(sa.func.count()).select_from(Graduate)
        .where(Graduate.cohort_id == cohort_id, Graduate.clearance.has())) or 0
    done = 0
    for i in range(0, len(todo_ids), chunk):
        part = todo_ids[i:i + chunk]
        for attempt in range(3):
            versions = latest_versions(cohort_id)   # re-read: the previous chunk's commit expired them
            graduates = list(db.session.scalars(
                sa.select(Graduate).where(Graduate.id.in_(part), ~Graduate.clearance.has())))
            try:
                rep = start_graduates(graduates, versions, actor)
                db.session.commit()
                break
            except IntegrityError:  # another process started some of them meanwhile
                db.session.rollback()
                if attempt == 2:
                    raise
        total_report.started += rep.started
        total_report.failed.extend(rep.failed)
        for k, v in rep.no_process.items():
            total_report.no_process[k] = total_report.no_process.get(k, 0) + v
        done += len(part)
        db.session.expunge_all()
        if progress:
            progress(done, len(todo_ids))
    if total_report.started and db.engine.dialect.name == "postgresql":
        # fresh planner statistics, or the first desk queries scan every item row
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                sa.text("ANALYZE graduates, clearances, clearance_items, events"))
    return total_report


# ----------------------------------------------------------------------------- actions
def _event_row(gid, cid, key, action, old, new, reason, actor: Actor, now) -> dict[str, Any]:
    return {
        "graduate_id": gid, "clearance_id": cid, "task_key": key, "action": action,
        "old": old, "new": new, "reason": reason, "source": actor.source, "actor_id": actor.user_id,
        "actor": (actor.label or "")[:64], "remote_addr": actor.remote_addr, "at": now,
    }


_CLEARANCE_COLS = (Clearance.id, Clearance.graduate_id, Clearance.process_version_id, Clearance.state,
                   Clearance.status, Clearance.version)
_ITEM_COLS = (ClearanceItem.id, ClearanceItem.clearance_id, ClearanceItem.task_key, ClearanceItem.status,
              ClearanceItem.reason, ClearanceItem.blocked_by, ClearanceItem.source, ClearanceItem.actor_id,
              ClearanceItem.waived_until)


def _lock_clearances(graduate_ids: Iterable[int]) -> list[sa.Row]:
    """The clearances' rows (plain rows, not ORM objects: a class batch is on the hot path), locked."""
    ids = list(graduate_ids)
    stmt = sa.select(*_CLEARANCE_COLS).where(Clearance.graduate_id.in_(ids)).order_by(Clearance.id)
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Clearance)
    elif db.engine.dialect.name == "sqlite":
        # SQLite has no row locks: a no-op write first takes the database write lock, so
        # concurrent writers queue (busy_timeout) instead of failing the version check.
        db.session.execute(sa.update(Clearance).where(Clearance.graduate_id.in_(ids))
                           .values(version=Clearance.version).execution_options(synchronize_session=False))
    return list(db.session.execute(stmt))


def _perform(inst: Instance, action: str, key: str, reason: str | None) -> None:
    if action == "confirm":
        inst.confirm(key)
    elif action == "reject":
        inst.reject(key, reason or "")
    elif action == "reopen":
        inst.reopen(key)
    elif action == "waive":
        inst.waive(key, reason or "")
    elif action == "unwaive":
        inst.unwaive(key)
    elif action == "refresh":
        inst.refresh()
    else:  # pragma: no cover - callers pass ACTIONS
        raise ValueError(action)


def apply(graduate_ids: Sequence[int], key: str | None, action: str, actor: Actor, *,
          reason: str | None = None, waived_until: date | None = None, strict: bool = True,
          expected: Mapping[int, str] | None = None, reasons: Mapping[int, str] | None = None,
          retries: int = 5, before_commit: Callable[[BatchResult], None] | None = None) -> BatchResult:
    """Apply one action to one item of several graduates' clearances in ONE transaction.

    ``strict``: all or nothing (any refusal rolls everything back and raises BatchRefused).
    Otherwise refused graduates are reported and the others applied.
    ``expected``: graduate id -> the item status the operator saw (batch pages, Excel previews);
    a graduate whose item has another status now is refused with code ``changed`` (checked under
    the row lock, so another operator's change in between is never overwritten silently).
    ``reasons``: graduate id -> a reason of that graduate's own (e.g. rejections from an Excel
    file); graduates not in it get ``reason``.
    ``before_commit``: called with the result inside the transaction, right before the commit (again
    on every retry), to add the caller's own writes to it (e.g. an appeal answered by this confirmation);
    an exception it raises rolls everything back and propagates.
    """
    if reasons:
        reasons = {gid: r.strip() for gid, r in reasons.items() if r and r.strip()}
    if action in ("reject", "reopen", "waive", "unwaive") and not (reason or "").strip() and not (
            reasons and all(gid in reasons for gid in graduate_ids)):
        raise ValueError(_("a reason is required"))

    def once() -> BatchResult:
        result = _apply_once(list(dict.fromkeys(graduate_ids)), key, action, actor,
                             (reason or "").strip() or None, waived_until, strict, expected, reasons)
        if before_commit is not None:
            before_commit(result)
        if action == "confirm" and key and result.succeeded:
            _resolve_open_appeals(ClearanceItem.graduate_id.in_([o.graduate_id for o in result.succeeded]),
                                  ClearanceItem.task_key == key, actor=actor)
        return result

    result = _commit_with_retries(once, retries)
    result.applied = True
    return result


def _commit_with_retries(once: Callable[[], _T], retries: int) -> _T:
    """Run ``once`` and commit, as one transaction; return what ``once`` returned.

    A ConcurrentChange or OperationalError (also from the commit) rolls back and runs it again, up to
    ``retries`` times, then raises ConcurrentChange; any other exception rolls back and propagates.
    """
    last: Exception | None = None
    for attempt in range(retries):
        try:
            value = once()
            db.session.commit()
            return value
        except (ConcurrentChange, OperationalError) as exc:
            db.session.rollback()
            last = exc
            time.sleep(0.02 * (attempt + 1))
        except BaseException:
            db.session.rollback()
            raise
    raise ConcurrentChange(str(last))


def _apply_once(graduate_ids: list[int], key: str | None, action: str, actor: Actor, default_reason: str | None,
                waived_until: date | None, strict: bool,
                expected: Mapping[int, str] | None = None,
                reasons: Mapping[int, str] | None = None) -> BatchResult:
    now = utcnow()
    result = BatchResult()
    clearances = {c.graduate_id: c for c in _lock_clearances(graduate_ids)}
    graduates = {g.id: g for g in db.session.execute(
        sa.select(Graduate.id, *(getattr(Graduate, name) for name in ATTRIBUTES))
        .where(Graduate.id.in_(graduate_ids)))}
    rows: dict[int, dict[str, sa.Row]] = {}
    if clearances:
        for item in db.session.execute(sa.select(*_ITEM_COLS).where(
                ClearanceItem.clearance_id.in_([c.id for c in clearances.values()]))):
            rows.setdefault(item.clearance_id, {})[item.task_key] = item
    item_updates, event_rows, clearance_updates = [], [], []
    for gid in graduate_ids:
        reason = (reasons.get(gid) if reasons else None) or default_reason
        clearance = clearances.get(gid)
        if clearance is None:
            result.outcomes.append(Outcome(gid, False, "no_clearance", _("clearance not started")))
            continue
        parsed, meta = _runtime_by_id(clearance.process_version_id)
        graduate = graduates[gid]
        inst = Instance.load(clearance.state, parsed, meta, attributes_of(graduate))
        current = rows.get(clearance.id, {})
        old_status = current[key].status if key and key in current else None
        if expected is not None and gid in expected and expected[gid] != old_status:
            result.outcomes.append(Outcome(gid, False, "changed", changed_message(key, old_status, meta),
                                           expected[gid], old_status))
            continue
        try:
            _perform(inst, action, key, reason)
        except ActionRefused as refusal:
            result.outcomes.append(Outcome(gid, False, refusal.code, refusal_message(refusal, meta),
                                           old_status, old_status))
            continue
        new_items = inst.items()
        changed = _diff(current, new_items)
        auto_keys = {k for k, why in inst.changes}
        for k, st in changed.items():
            item = current[k]
            is_target = k == key
            source = actor.source if is_target else (Source.AUTO if k in auto_keys else Source.SYSTEM)
            upd = {
                "id": item.id, "status": st.status, "reason": st.reason, "blocked_by": ",".join(st.blocked_by) or None,
                "source": source if (is_target or k in auto_keys) else item.source,
                "actor_id": actor.user_id if is_target else item.actor_id,
                "updated_at": now, "waived_until": (waived_until if action == "waive" and is_target
                                                    else (None if st.status != ItemStatus.WAIVED
                                                          else item.waived_until)),
            }
            if is_target and action in ("reopen", "unwaive") and st.status == ItemStatus.PENDING:
                upd["reason"] = reason      # why it was re-opened (a kept rejection shows its own reason)
            item_updates.append(upd)
            ev_action = action if is_target else ("auto_pass" if (k, "auto_pass") in inst.changes
                                                   else "auto_revert" if (k, "auto_revert") in inst.changes
                                                   else "cascade")
            ev_actor = actor if is_target else Actor.system("auto" if k in auto_keys else "engine",
                                                             Source.AUTO if k in auto_keys else Source.SYSTEM)
            if is_target or item.status != st.status:   # blocked_by bookkeeping is not an event
                event_rows.append(_event_row(gid, clearance.id, k, ev_action, item.status, st.status,
                                             reason if is_target else None, ev_actor, now))
        if key and key not in changed and action != "refresh" and key in current:
            # e.g. a waived item confirmed later, or a second rejection with a new reason
            item = current[key]
            item_updates.append({"id": item.id, "status": new_items[key].status,
                                 "reason": new_items[key].reason, "blocked_by": item.blocked_by,
                                 "source": actor.source, "actor_id": actor.user_id, "updated_at": now,
                                 "waived_until": None if new_items[key].status != ItemStatus.WAIVED
                                 else item.waived_until})
            event_rows.append(_event_row(gid, clearance.id, key, action, item.status, new_items[key].status,
                                         reason, actor, now))
        new_state = inst.dump()
        new_status = inst.status(new_items)
        clearance_updates.append({"b_id": clearance.id, "b_version": clearance.version, "state": new_state,
                                  "status": new_status, "version": clearance.version + 1, "updated_at": now})
        if clearance.status != new_status:
            event_rows.append(_event_row(gid, clearance.id, None, "status", clearance.status, new_status,
                                         None, Actor.system("engine"), now))
        result.outcomes.append(Outcome(gid, True, "ok", "", old_status,
                                       new_items[key].status if key in new_items else None))
    if strict and result.failed:
        raise BatchRefused(result)
    if clearance_updates:
        # one batched UPDATE with the version check on every row (rowcount is summed by both drivers)
        table = Clearance.__table__
        res = db.session.connection().execute(
            table.update().where(table.c.id == sa.bindparam("b_id"), table.c.version == sa.bindparam("b_version"))
            .values(state=sa.bindparam("state"), status=sa.bindparam("status"), version=sa.bindparam("version"),
                    updated_at=sa.bindparam("updated_at")),
            clearance_updates)
        if res.rowcount != len(clearance_updates):
            raise ConcurrentChange("a clearance changed meanwhile")
    if item_updates:
        db.session.execute(
            sa.update(ClearanceItem),
            item_updates)
    if event_rows:
        db.session.execute(sa.insert(Event).execution_options(render_nulls=True), event_rows)
    return result


# ----------------------------------------------------------------------------- several items of one graduate
@dataclass
class ItemOutcome:
    key: str
    old: str | None
    new: str | None


class ItemsRefused(DomainError):
    """One of the items could not be changed: nothing was applied."""

    def __init__(self, key: str, code: str, message: str):
        super().__init__(message, code=code, item=key)
        self.key = key


def apply_items(graduate_id: int, keys: Sequence[str], action: str, actor: Actor, *,
                reason: str | None = None, retries: int = 5) -> list[ItemOutcome]:
    """Apply one action to several items of ONE graduate, in order, in ONE transaction.

    The engine is loaded once; every step is recorded as its own events (the target item and
    whatever it cascades to). All or nothing: the first refused item raises ItemsRefused (with a
    message naming it) and nothing is saved.
    """
    if action not in ACTIONS:
        raise ValueError(action)
    if action in ("reject", "reopen", "waive", "unwaive") and not (reason or "").strip():
        raise ValueError(_("a reason is required"))
    keys = list(dict.fromkeys(k for k in keys if k))
    if not keys:
        return []

    def once() -> list[ItemOutcome]:
        outcomes = _apply_items_once(graduate_id, keys, action, actor, (reason or "").strip() or None)
        if action == "confirm":
            _resolve_open_appeals(ClearanceItem.graduate_id == graduate_id, ClearanceItem.task_key.in_(keys),
                                  actor=actor)
        return outcomes

    return _commit_with_retries(once, retries)


def _apply_items_once(graduate_id: int, keys: list[str], action: str, actor: Actor,
                      reason: str | None) -> list[ItemOutcome]:
    now = utcnow()
    locked = _lock_clearances([graduate_id])
    if not locked:
        raise ItemsRefused("", "no_clearance", _("clearance not started"))
    clearance = locked[0]
    graduate = db.session.execute(sa.select(Graduate.id, *(getattr(Graduate, name) for name in ATTRIBUTES))
                                  .where(Graduate.id == graduate_id)).one()
    rows = {r.task_key: r for r in db.session.execute(
        sa.select(*_ITEM_COLS).where(ClearanceItem.clearance_id == clearance.id))}
    parsed, meta = _runtime_by_id(clearance.process_version_id)
    inst = Instance.load(clearance.state, parsed, meta, attributes_of(graduate))
    current = {k: (r.status, r.reason, r.blocked_by) for k, r in rows.items()}   # as of the previous step
    touched: dict[str, dict[str, Any]] = {}      # item key -> its final projection values
    event_rows, outcomes = [], []
    for key in keys:
        if key not in rows:
            raise ItemsRefused(key, "unknown_item",
                               refusal_message(ActionRefused("unknown_item", item=key), meta))
        inst.changes.clear()
        try:
            _perform(inst, action, key, reason)
        except ActionRefused as refusal:
            raise ItemsRefused(key, refusal.code, refusal_message(refusal, meta)) from None
        new_items = inst.items()
        auto_keys = {k for k, _why in inst.changes}
        for k, st in new_items.items():
            if k not in rows:
                continue
            old_status, old_reason, old_blocked = current[k]
            blocked = ",".join(st.blocked_by) or None
            is_target = k == key
            new_reason = st.reason if st.status == ItemStatus.REJECTED else old_reason
            if not is_target and (st.status, new_reason, blocked) == (old_status, old_reason, old_blocked):
                continue
            upd = touched.setdefault(k, {"id": rows[k].id, "source": rows[k].source,
                                         "actor_id": rows[k].actor_id, "waived_until": rows[k].waived_until})
            upd.update(status=st.status, reason=st.reason, blocked_by=blocked, updated_at=now)
            if is_target:
                upd.update(source=actor.source, actor_id=actor.user_id)
                if action in ("reopen", "unwaive") and st.status == ItemStatus.PENDING:
                    upd["reason"] = reason
            elif k in auto_keys:
                upd["source"] = Source.AUTO
            if st.status != ItemStatus.WAIVED:
                upd["waived_until"] = None
            current[k] = (st.status, upd["reason"], blocked)
            if is_target:
                event_rows.append(_event_row(graduate_id, clearance.id, k, action, old_status, st.status,
                                             reason, actor, now))
                outcomes.append(ItemOutcome(k, old_status, st.status))
            elif old_status != st.status:          # blocked_by bookkeeping is not an event
                why = dict(inst.changes).get(k)
                event_rows.append(_event_row(
                    graduate_id, clearance.id, k, why or "cascade", old_status, st.status, None,
                    Actor.system("auto", Source.AUTO) if k in auto_keys else Actor.system("engine"), now))
    new_status = inst.status()
    res = db.session.execute(
        sa.update(Clearance).where(Clearance.id == clearance.id, Clearance.version == clearance.version)
        .values(state=inst.dump(), status=new_status, version=clearance.version + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise ConcurrentChange("the clearance changed meanwhile")
    if touched:
        db.session.execute(sa.update(ClearanceItem), list(touched.values()))
    if clearance.status != new_status:
        event_rows.append(_event_row(graduate_id, clearance.id, None, "status", clearance.status, new_status,
                                     None, Actor.system("engine"), now))
    if event_rows:
        db.session.execute(sa.insert(Event).execution_options(render_nulls=True), event_rows)
    return outcomes


def _resolve_open_appeals(*where, actor: Actor) -> None:
    """An item confirmed at the desk, in a batch or from Excel answers its open appeal (申诉) too:
    resolved by that confirmation, recorded as an ``appeal_resolved`` event, in the same transaction."""
    from app.appeals.models import Appeal, AppealStatus

    now = utcnow()
    passed = sa.select(ClearanceItem.id).where(*where, ClearanceItem.status == ItemStatus.PASSED)
    closed = db.session.execute(
        sa.update(Appeal).where(Appeal.status == AppealStatus.OPEN, Appeal.item_id.in_(passed))
        .values(status=AppealStatus.RESOLVED, answered_by_id=actor.user_id, answered_by=(actor.label or "")[:64],
                answered_at=now)
        .returning(Appeal.graduate_id, Appeal.task_key)
        .execution_options(synchronize_session=False)).all()
    if closed:
        db.session.execute(sa.insert(Event).execution_options(render_nulls=True), [
            _event_row(gid, None, key, "appeal_resolved", None, None, None, actor, now) for gid, key in closed])


def _diff(current: dict[str, sa.Row], new: dict[str, ItemState]) -> dict[str, ItemState]:
    out = {}
    for k, st in new.items():
        row = current.get(k)
        if row is None:
            continue
        blocked = ",".join(st.blocked_by) or None
        if row.status != st.status or (st.status == ItemStatus.REJECTED and row.reason != st.reason) \
                or row.blocked_by != blocked:
            out[k] = st
    return out


def changed_message(key: str | None, status: str | None, meta: dict[str, dict[str, Any]]) -> str:
    """Why an ``expected`` status no longer holds (someone else changed the item meanwhile)."""
    from app.core.i18n import STATUS_LABELS, item_name

    item = item_name(meta[key]) if key in meta else (key or "")
    if status is None:
        return _("%(item)s is not an item of this graduate's process", item=item)
    return _("%(item)s was changed meanwhile by someone else; it is now: %(status)s",
             item=item, status=STATUS_LABELS.get(status, status))


def refusal_message(refusal: ActionRefused, meta: dict[str, dict[str, Any]] | None = None) -> str:
    meta = meta or {}

    from app.core.i18n import item_name

    def name(k: str) -> str:
        m = meta.get(k)
        return item_name(m) if m else k

    p = refusal.params
    item = name(p.get("item", ""))
    messages = {
        "unknown_item": _("%(item)s is not an item of this graduate's process", item=item),
        "not_required": _("%(item)s is not required for this graduate", item=item),
        "blocked": _("%(item)s is waiting for: %(blockers)s", item=item,
                     blockers="、".join(name(b) for b in p.get("blockers", [])) or _("an earlier step")),
        "already_passed": _("%(item)s is already passed", item=item),
        "already_waived": _("%(item)s is already waived", item=item),
        "not_open": _("%(item)s cannot be changed now", item=item),
        "not_waivable": _("%(item)s cannot be waived", item=item),
        "not_waived": _("%(item)s is not waived", item=item),
        "not_passed": _("%(item)s is not passed, there is nothing to re-open", item=item),
        "certificates_issued": _("certificates were already issued: %(item)s can no longer be changed",
                                 item=item),
        "later_items_done": _("re-open the later items first: %(later)s",
                              later="、".join(name(k) for k in p.get("later", []))),
    }
    return messages.get(refusal.code, refusal.code)


# ----------------------------------------------------------------------------- attributes
def update_attributes(graduate_id: int, changes: dict[str, Any], actor: Actor) -> BatchResult | None:
    """Change a graduate's source attributes and re-evaluate auto-pass rules, one transaction."""
    graduate = db.session.get(Graduate, graduate_id)
    if graduate is None:
        raise LookupError(graduate_id)
    for name, value in changes.items():
        if name not in ATTRIBUTES:
            raise ValueError(name)
        setattr(graduate, name, value)
    graduate.synced_at = utcnow()
    db.session.flush()
    has = db.session.scalar(sa.select(Clearance.id).where(Clearance.graduate_id == graduate_id))
    if has is None:
        db.session.commit()
        return None
    return apply([graduate_id], None, "refresh", actor, strict=False)


def projection_mismatches(clearance: Clearance) -> list[tuple[str, str, str]]:
    """(task key, projection status, engine status) for every item that disagrees."""
    parsed, meta = _runtime_by_id(clearance.process_version_id)
    inst = Instance.load(clearance.state, parsed, meta, attributes_of(clearance.graduate))
    engine_items = inst.items()
    rows = {i.task_key: i for i in db.session.scalars(
        sa.select(ClearanceItem).where(ClearanceItem.clearance_id == clearance.id))}
    out = []
    for k, st in engine_items.items():
        row = rows.get(k)
        if row is None or row.status != st.status:
            out.append((k, row.status if row else "-", st.status))
    if inst.status(engine_items) != clearance.status:
        out.append(("<clearance>", clearance.status, inst.status(engine_items)))
    return out


# ----------------------------------------------------------------------------- 缓交 expiry
WAIVER_EXPIRED_REASON = "缓交到期"


def set_waiver_end(graduate_id: int, key: str, until: date | None, actor: Actor, *, reason: str) -> None:
    """Extend or shorten a 缓交 (change ``waived_until`` of a waived item), one audited transaction.

    Only the projection's end date changes (the engine state does not know it); the clearance row
    is locked like for any change, so an expiry running at the same moment cannot interleave.
    The event ``waive_end`` records the old and new end dates (ISO, '' for none).
    """
    if not (reason or "").strip():
        raise ValueError(_("a reason is required"))
    try:
        locked = _lock_clearances([graduate_id])
        row = db.session.execute(
            sa.select(ClearanceItem.id, ClearanceItem.status, ClearanceItem.waived_until)
            .where(ClearanceItem.graduate_id == graduate_id, ClearanceItem.task_key == key)).one_or_none()
        if not locked or row is None or row.status != ItemStatus.WAIVED:
            raise ActionRefused("not_waived", item=key)
        now = utcnow()
        db.session.execute(sa.update(ClearanceItem).where(ClearanceItem.id == row.id)
                           .values(waived_until=until, updated_at=now).execution_options(synchronize_session=False))
        db.session.execute(sa.insert(Event).execution_options(render_nulls=True), [_event_row(
            graduate_id, locked[0].id, key, "waive_end", row.waived_until.isoformat() if row.waived_until else "",
            until.isoformat() if until else "", reason.strip(), actor, now)])
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


@dataclass
class ExpiryReport:
    restored: int = 0                                              # restrictions back on
    kept: list[tuple[int, str, str]] = field(default_factory=list)  # (graduate id, item, why not)


def local_today(now: datetime | date | None = None) -> date:
    """Today's date at the school (BABEL_DEFAULT_TIMEZONE); ``now`` is naive UTC or a local date."""
    from zoneinfo import ZoneInfo

    from flask import current_app

    if isinstance(now, date) and not isinstance(now, datetime):
        return now
    tz = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC")
    return (now or utcnow()).replace(tzinfo=timezone.utc).astimezone(tz).date()


def _expired_waivers(today: date):
    """Waived items whose 缓交 ended before ``today`` (probes the (checkpoint, status) index)."""
    checkpoint_ids = list(db.session.scalars(sa.select(Checkpoint.id)))
    return (ClearanceItem.checkpoint_id.in_(checkpoint_ids), ClearanceItem.status == ItemStatus.WAIVED,
            ClearanceItem.waived_until < today)


def has_expired_waivers(now: datetime | date | None = None) -> bool:
    """Cheap check: is there any 缓交 to end? (one indexed query)"""
    return db.session.scalar(
        sa.select(ClearanceItem.id).where(*_expired_waivers(local_today(now))).limit(1)) is not None


def expire_waivers(now: datetime | date | None = None, *, chunk: int = 100) -> ExpiryReport:
    """Restore the restriction of every waived item whose ``waived_until`` is past (缓交到期).

    An item waived until D is lifted through D and restored from D + 1 (school time). Each chunk
    of graduates is one transaction (``apply`` ... ``unwaive``, source system, reason 缓交到期).
    An item that can no longer be restored (certificates already issued) keeps its waiver; its
    expiry date is cleared and an ``expire`` event says why, so it is not tried again.
    """
    today = local_today(now)
    actor = Actor.system(WAIVER_EXPIRED_REASON, Source.SYSTEM)
    report = ExpiryReport()
    tried: set[int] = set()
    while True:
        query = (sa.select(ClearanceItem.id, ClearanceItem.graduate_id, ClearanceItem.clearance_id,
                           ClearanceItem.task_key)
                 .where(*_expired_waivers(today)).order_by(ClearanceItem.task_key, ClearanceItem.graduate_id)
                 .limit(chunk))
        if tried:
            query = query.where(ClearanceItem.id.not_in(tried))
        rows = db.session.execute(query).all()
        db.session.rollback()                 # end the read transaction before locking
        if not rows:
            return report
        key = rows[0].task_key
        part = [r for r in rows if r.task_key == key]
        tried.update(r.id for r in part)
        result = apply([r.graduate_id for r in part], key, "unwaive", actor,
                       reason=WAIVER_EXPIRED_REASON, strict=False)
        report.restored += len(result.succeeded)
        refused = {o.graduate_id: o for o in result.failed if o.code != "not_waived"}
        if refused:
            now_ = utcnow()
            kept = [r for r in part if r.graduate_id in refused]
            db.session.execute(sa.update(ClearanceItem).where(ClearanceItem.id.in_([r.id for r in kept]))
                               .values(waived_until=None).execution_options(synchronize_session=False))
            db.session.execute(sa.insert(Event).execution_options(render_nulls=True), [
                _event_row(r.graduate_id, r.clearance_id, key, "expire", ItemStatus.WAIVED, ItemStatus.WAIVED,
                           f"{WAIVER_EXPIRED_REASON}: {refused[r.graduate_id].message}"[:500], actor, now_)
                for r in kept])
            db.session.commit()
            report.kept.extend((r.graduate_id, key, refused[r.graduate_id].message) for r in kept)
        # "not_waived": changed by someone else meanwhile; the next query no longer finds it


_EXPIRY_LOCK = threading.Lock()
_EXPIRY_NEXT_CHECK = {"at": 0.0}


def maybe_expire_waivers(app, interval: float | None = None) -> bool:
    """At most once per ``interval`` seconds per process: end the 缓交 that are due.

    Called after a desk or portal response has been sent (``response.call_on_close``), so no
    page waits for it; without anything due it costs one indexed query a minute. Never raises.
    Returns whether a check ran.
    """
    interval = app.config.get("WAIVER_EXPIRY_INTERVAL", 60) if interval is None else interval
    if not interval or interval < 0:
        return False
    now = time.monotonic()
    with _EXPIRY_LOCK:
        if now < _EXPIRY_NEXT_CHECK["at"]:
            return False
        _EXPIRY_NEXT_CHECK["at"] = now + interval
    import logging

    with app.app_context():
        try:
            if has_expired_waivers():
                report = expire_waivers()
                logging.getLogger(__name__).info("缓交到期: %d restored, %d kept", report.restored,
                                                 len(report.kept))
        except Exception:  # noqa: BLE001 - a background chore must never break a request
            db.session.rollback()
            logging.getLogger(__name__).exception("expiring waivers failed")
        finally:
            db.session.remove()
    return True
