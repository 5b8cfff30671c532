"""Batches at the operator desk: one item for a whole class or dorm room (按班级 / 按宿舍批量操作).

Public API (stable names: the pages, the desk benchmark and the tests call these)
----------------------------------------------------------------------------------
``cohorts_in_scope() -> list[Cohort]``
    Cohorts that have started clearances, newest first (the first is the default).
``checkpoint_items(checkpoint, cohort_id) -> list[BatchItem]``
    Items of this checkpoint in the cohort's published processes (every version, union by key),
    in process order; ``BatchItem.batch_mode`` says whether class / dorm batches are intended.
``items_meta(cohort_id) -> dict[str, dict]``
    Item metadata by task key over the cohort's published versions (for names of items and blockers).
``group_of(graduate, by) -> Group``
    The class (``by="class"``) or dorm room (``by="dorm"``) of the graduate in front of the operator.
``parse_group(cohort_id, by, text) -> Group | None``
    A class name or a dorm as typed (``12栋305``, ``12-305``, ``12栋 305``); None if it cannot be read.
``group_rows(checkpoint, group, task_key) -> list[GroupRow]``
    Every graduate of the group (same cohort) with the status of ``task_key``: ONE query.
``confirm_group(checkpoint, group, task_key, graduate_ids, seen, actor) -> GroupBatch``
    Confirm ``task_key`` for the ticked graduates in ONE transaction, all or nothing, through
    ``app.workflow.services.apply(..., strict=True, expected=seen)``. Nothing is applied when a
    ticked graduate is not in the group, is not selectable now, or changed since the operator
    saw the list (``seen``: graduate id -> status shown); ``GroupBatch.problems`` then says which
    rows and why, and ``GroupBatch.rows`` is the fresh list (empty after success: the page
    redirects and reads it again). ``actor`` should have
    ``source=Source.BATCH`` (see ``batch_actor``).
``batch_actor(user) -> Actor``
    The audit actor of a class / dorm batch (source ``batch``).
``group_suggestions(cohort_id, by, text, limit=12) -> list[str]``
    Class names / dorms of the cohort containing ``text`` (for "did you mean").
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from app.core.web import actor_for
from app.core.enums import OPEN_STATUSES, ItemStatus, Source
from app.core.i18n import STATUS_LABELS, item_name
from app.extensions import db
from app.graduates.importer import split_dorm
from app.graduates.models import Cohort, Graduate
from app.workflow.models import Checkpoint, Clearance, ClearanceItem, ProcessVersion
from app.workflow.services import Actor, BatchRefused, ConcurrentChange, apply

GROUP_KINDS = ("class", "dorm")
MAX_GROUP = 400          # a "class" bigger than this is not a class: refuse instead of locking thousands


@dataclass(frozen=True)
class BatchItem:
    key: str
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return item_name(self.meta)

    @property
    def batch_mode(self) -> str:
        return self.meta.get("batch_mode") or "individual"


@dataclass(frozen=True)
class Group:
    """A class or a dorm room of one cohort."""

    cohort_id: int
    by: str                      # "class" | "dorm"
    class_name: str = ""
    dorm_building: str = ""
    dorm_room: str = ""

    @property
    def label(self) -> str:
        return self.class_name if self.by == "class" else f"{self.dorm_building}-{self.dorm_room}"

    @property
    def text(self) -> str:
        """What to put in the page's input box to get this group again."""
        return self.label

    def condition(self):
        if self.by == "class":
            return sa.and_(Graduate.cohort_id == self.cohort_id, Graduate.class_name == self.class_name)
        return sa.and_(Graduate.cohort_id == self.cohort_id, Graduate.dorm_building == self.dorm_building,
                       Graduate.dorm_room == self.dorm_room)


@dataclass
class GroupRow:
    graduate_id: int
    student_no: str
    name: str
    gtype: str
    class_name: str
    dorm: str
    status: str | None            # None: the item is not in this graduate's process / not started
    reason: str | None
    blockers: list[dict[str, Any]]
    at_checkpoint: bool           # the item belongs to the checkpoint the operator works at
    started: bool

    @property
    def selectable(self) -> bool:
        return self.at_checkpoint and self.status in OPEN_STATUSES

    @property
    def why_not(self) -> str:
        """Why the row cannot be ticked ("" when it can)."""
        if not self.started:
            return _("clearance not started")
        if self.status is None:
            return _("not in this graduate's process")
        if not self.at_checkpoint:
            return _("handled at another checkpoint for this graduate")
        if self.status == ItemStatus.BLOCKED:
            names = ("、" if not _is_en() else ", ").join(item_name(m) for m in self.blockers)
            return _("waiting for: %(blockers)s", blockers=names or _("an earlier step"))
        if self.status in OPEN_STATUSES:
            return ""
        return str(STATUS_LABELS.get(self.status, self.status))


@dataclass
class Problem:
    graduate_id: int
    student_no: str
    name: str
    message: str


@dataclass
class GroupBatch:
    """What a class / dorm batch did: ``applied`` is all or nothing."""

    applied: bool
    confirmed: list[GroupRow] = field(default_factory=list)   # rows as they were before (applied only)
    problems: list[Problem] = field(default_factory=list)    # why nothing was applied
    rows: list[GroupRow] = field(default_factory=list)       # the group now (fresh)


def _is_en() -> bool:
    from app.core.i18n import is_english

    return is_english()


def batch_actor(user) -> Actor:
    return actor_for(user, Source.BATCH)


# ----------------------------------------------------------------------------- reading
def cohorts_in_scope() -> list[Cohort]:
    # cohorts with a published process (a handful of rows; as app.desk.queries._in_scope)
    published = sa.select(ProcessVersion.cohort_id)
    return list(db.session.scalars(sa.select(Cohort).where(Cohort.id.in_(published))
                                   .order_by(Cohort.year.desc())))


def _all_meta(cohort_id: int) -> list[dict[str, Any]]:
    """Every item of every version published for the cohort (oldest version first)."""
    return [m for (meta,) in db.session.execute(
        sa.select(ProcessVersion.items_meta).where(ProcessVersion.cohort_id == cohort_id)
        .order_by(ProcessVersion.version, ProcessVersion.id)) for m in (meta or [])]


def items_meta(cohort_id: int) -> dict[str, dict[str, Any]]:
    """Item metadata by key over every published version of the cohort (the first published wins)."""
    out: dict[str, dict[str, Any]] = {}
    for m in _all_meta(cohort_id):
        out.setdefault(m["key"], m)
    return out


def checkpoint_items(checkpoint: Checkpoint, cohort_id: int) -> list[BatchItem]:
    # a key may be at different checkpoints in different graduate types (league_transfer)
    mine: dict[str, dict[str, Any]] = {}
    for m in _all_meta(cohort_id):
        if m.get("checkpoint_id") == checkpoint.id:
            mine.setdefault(m["key"], m)
    return [BatchItem(m["key"], m) for m in sorted(mine.values(), key=lambda m: (m.get("order", 0), m["key"]))]


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip()


def group_of(graduate: Graduate, by: str) -> Group:
    if by == "dorm":
        return Group(graduate.cohort_id, "dorm", dorm_building=graduate.dorm_building, dorm_room=graduate.dorm_room)
    return Group(graduate.cohort_id, "class", class_name=graduate.class_name)


def parse_group(cohort_id: int, by: str, text: str) -> Group | None:
    text = _clean(text)[:100]
    if not text or by not in GROUP_KINDS:
        return None
    if by == "class":
        return Group(cohort_id, "class", class_name=text)
    parts = split_dorm(text)
    if parts is None:
        return None
    building, room = parts
    return Group(cohort_id, "dorm", dorm_building=building, dorm_room=room)


def group_suggestions(cohort_id: int, by: str, text: str, limit: int = 12) -> list[str]:
    """Classes / dorms of the cohort whose name contains the digits or words typed."""
    text = _clean(text)
    if by == "class":
        col = Graduate.class_name
        needle = text
    else:
        col = Graduate.dorm_building + "-" + Graduate.dorm_room
        needle = re.sub(r"[栋幢楼室#/\-\s]+", "%", text).strip("%")
    if not needle:
        return []
    pattern = "%" + needle.replace("\\", "").replace("_", "\\_") + "%"
    rows = db.session.scalars(sa.select(col).where(Graduate.cohort_id == cohort_id, col.like(pattern, escape="\\"),
                                                   col != "", col != "-").distinct().order_by(col).limit(limit))
    return list(rows)


def group_rows(checkpoint: Checkpoint, group: Group, task_key: str,
               meta: Mapping[str, dict[str, Any]] | None = None) -> list[GroupRow]:
    """The group's graduates with ``task_key``'s status, by student number (one query)."""
    if meta is None:
        meta = items_meta(group.cohort_id)
    item = ClearanceItem
    stmt = (sa.select(Graduate.id, Graduate.student_no, Graduate.name, Graduate.gtype, Graduate.class_name,
                      Graduate.dorm_building, Graduate.dorm_room, Clearance.id.label("clearance_id"),
                      item.status, item.reason, item.blocked_by, item.checkpoint_id)
            .outerjoin(Clearance, Clearance.graduate_id == Graduate.id)
            .outerjoin(item, sa.and_(item.clearance_id == Clearance.id, item.task_key == task_key))
            .where(group.condition())
            .order_by(Graduate.student_no)
            .limit(MAX_GROUP + 1))
    out = []
    for r in db.session.execute(stmt):
        blockers = [meta.get(k) or {"key": k, "name": k} for k in (r.blocked_by or "").split(",") if k]
        out.append(GroupRow(
            graduate_id=r.id, student_no=r.student_no, name=r.name, gtype=r.gtype, class_name=r.class_name,
            dorm=f"{r.dorm_building}-{r.dorm_room}" if r.dorm_building else "",
            status=r.status, reason=r.reason, blockers=blockers,
            at_checkpoint=r.checkpoint_id == checkpoint.id, started=r.clearance_id is not None))
    return out


# ----------------------------------------------------------------------------- the use case
def confirm_group(checkpoint: Checkpoint, group: Group, task_key: str, graduate_ids: Sequence[int],
                  seen: Mapping[int, str], actor: Actor) -> GroupBatch:
    """Confirm ``task_key`` for the ticked graduates of ``group``: one transaction, all or nothing."""
    meta = items_meta(group.cohort_id)
    rows = group_rows(checkpoint, group, task_key, meta)
    by_id = {r.graduate_id: r for r in rows}
    ids = list(dict.fromkeys(graduate_ids))
    problems: list[Problem] = []
    for gid in ids:
        row = by_id.get(gid)
        if row is None:
            problems.append(Problem(gid, "", "", _("not in %(group)s", group=group.label)))
        elif not row.selectable:
            problems.append(Problem(gid, row.student_no, row.name, row.why_not))
        elif seen.get(gid) not in (None, row.status):
            problems.append(Problem(gid, row.student_no, row.name, _(
                "changed meanwhile by someone else; it is now: %(status)s",
                status=STATUS_LABELS.get(row.status, row.status))))
    if problems:
        return GroupBatch(False, problems=problems, rows=rows)
    expected = {gid: seen.get(gid) or by_id[gid].status for gid in ids}
    try:
        apply(ids, task_key, "confirm", actor, strict=True, expected=expected)
    except BatchRefused as exc:
        for o in exc.result.failed:
            row = by_id[o.graduate_id]
            problems.append(Problem(o.graduate_id, row.student_no, row.name, o.message))
    except ConcurrentChange:
        problems.append(Problem(0, "", "", _("Someone else was changing the same graduates at the same moment; "
                                             "nothing was applied. Please try again.")))
    if problems:   # the fresh list, so the operator sees what changed
        return GroupBatch(False, problems=problems, rows=group_rows(checkpoint, group, task_key, meta))
    return GroupBatch(True, confirmed=[by_id[gid] for gid in ids], rows=[])
