"""Read-only queries for the operator desk (离校点工作台)."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from app.core.enums import DONE_STATUSES, OPEN_STATUSES, ItemStatus
from app.extensions import db
from app.graduates.idcard import normalise
from app.graduates.models import Cohort, Graduate
from app.portal.queries import meta_for_version
from app.workflow.models import Checkpoint, Clearance, ClearanceItem, Event, ProcessVersion

SEARCH_LIMIT = 50


def checkpoints_for(principal) -> list[Checkpoint]:
    """The checkpoints this staff member may work at (admins: every checkpoint)."""
    if principal.has_role("admin"):
        return list(db.session.scalars(sa.select(Checkpoint).order_by(Checkpoint.sort_order, Checkpoint.id)))
    return list(principal.user.checkpoints)


def _in_scope():
    """Graduates of any cohort with a published process (a handful of rows: no scan of graduates)."""
    return Graduate.cohort_id.in_(sa.select(ProcessVersion.cohort_id))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class SearchResult:
    graduates: list[Graduate]
    truncated: bool = False


def search_graduates(q: str) -> SearchResult:
    """Student number or ID-card number (exact; x or X) when the text has a digit, else name (partial).

    Numbers use the indexes on ``student_no`` / ``id_card``. A name first collects at most
    SEARCH_LIMIT + 1 ids (exact matches through the name index, then any match without ORDER BY,
    so a common surname stops early), then loads those rows: exact matches first, newest cohort first.
    """
    q = unicodedata.normalize("NFKC", q or "").strip()     # full-width digits typed with a Chinese IME
    if not q:
        return SearchResult([])
    base = (sa.select(Graduate).join(Cohort, Cohort.id == Graduate.cohort_id)
            .options(contains_eager(Graduate.cohort)).where(_in_scope()))
    if any(ch.isdigit() for ch in q):
        ident = normalise(q)
        found = list(db.session.scalars(
            base.where(sa.or_(Graduate.student_no == q, Graduate.id_card.in_({ident, ident.lower()})))
            .order_by(Cohort.year.desc(), Graduate.student_no).limit(SEARCH_LIMIT + 1)))
        return SearchResult(found[:SEARCH_LIMIT], truncated=len(found) > SEARCH_LIMIT)
    ids = list(db.session.scalars(sa.select(Graduate.id).where(Graduate.name == q).limit(SEARCH_LIMIT + 1)))
    if len(ids) <= SEARCH_LIMIT:
        like = Graduate.name.like(f"%{_escape_like(q)}%", escape="\\")
        ids += db.session.scalars(sa.select(Graduate.id).where(like, Graduate.id.not_in(ids) if ids else sa.true())
                                  .limit(SEARCH_LIMIT + 1 - len(ids)))
    found = sorted(db.session.scalars(base.where(Graduate.id.in_(ids))) if ids else [],
                   key=lambda g: (g.name != q, -g.cohort.year, g.student_no))
    return SearchResult(found[:SEARCH_LIMIT], truncated=len(found) > SEARCH_LIMIT)


def graduate_in_scope(graduate_id: int) -> Graduate | None:
    return db.session.scalar(sa.select(Graduate).where(Graduate.id == graduate_id, _in_scope()))


@dataclass
class DeskItem:
    item: ClearanceItem
    meta: dict[str, Any]
    blockers: list[dict[str, Any]]

    @property
    def key(self) -> str:
        return self.item.task_key

    @property
    def status(self) -> str:
        return self.item.status

    @property
    def selectable(self) -> bool:
        """Confirmable: open, or waived (缓交) and now settled."""
        return self.item.status in OPEN_STATUSES or self.item.status == ItemStatus.WAIVED

    @property
    def rejectable(self) -> bool:
        return self.item.status in OPEN_STATUSES

    @property
    def reopenable(self) -> bool:
        return self.item.status == ItemStatus.PASSED


@dataclass
class GraduateAtDesk:
    graduate: Graduate
    clearance: Clearance | None
    meta: dict[str, dict[str, Any]]
    items: list[DeskItem]                 # this checkpoint's items
    all_items: list[DeskItem]             # the whole sheet, for context
    events: list[Event]

    # counted as on the graduate's sheet: only the items that apply to this graduate
    @property
    def done(self) -> int:
        return sum(1 for d in self.all_items if d.status in DONE_STATUSES and d.status != ItemStatus.NOT_REQUIRED)

    @property
    def total(self) -> int:
        return sum(1 for d in self.all_items if d.status != ItemStatus.NOT_REQUIRED)

    def name_of(self, key: str | None) -> dict[str, Any]:
        if not key:
            return {}
        return self.meta.get(key) or {"key": key, "name": key}


def graduate_at(graduate: Graduate, checkpoint: Checkpoint, *, events_limit: int = 30) -> GraduateAtDesk:
    clearance = db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == graduate.id))
    if clearance is None:
        return GraduateAtDesk(graduate, None, {}, [], [], [])
    meta = meta_for_version(clearance.process_version_id)
    all_items = []
    for item in clearance.items:          # ordered by sort_order
        m = meta.get(item.task_key) or {"key": item.task_key, "name": item.task_key}
        all_items.append(DeskItem(item, m, [meta.get(k) or {"key": k, "name": k} for k in item.blockers]))
    here = [d for d in all_items if d.item.checkpoint_id == checkpoint.id]
    keys = [d.key for d in here]
    events = list(db.session.scalars(
        sa.select(Event).where(Event.graduate_id == graduate.id, Event.task_key.in_(keys))
        .order_by(Event.id.desc()).limit(events_limit))) if keys else []
    return GraduateAtDesk(graduate, clearance, meta, here, all_items, events)


def checkpoint_counts(checkpoint: Checkpoint) -> dict[str, int]:
    """Items at this checkpoint by status, over every running clearance (实时统计)."""
    rows = db.session.execute(
        sa.select(ClearanceItem.status, sa.func.count())
        .where(ClearanceItem.checkpoint_id == checkpoint.id)
        .group_by(ClearanceItem.status))
    return {status: n for status, n in rows}


def item_checkpoint_ids(graduate_id: int, keys: list[str]) -> dict[str, int]:
    """Task key -> checkpoint id of this graduate's items (missing keys are not items)."""
    rows = db.session.execute(
        sa.select(ClearanceItem.task_key, ClearanceItem.checkpoint_id)
        .where(ClearanceItem.graduate_id == graduate_id, ClearanceItem.task_key.in_(keys)))
    return dict(rows.all())


# ----------------------------------------------------------------------------- the clearance record (离校记录)
@dataclass
class RecordItem:
    item: ClearanceItem
    meta: dict[str, Any]
    blockers: list[dict[str, Any]]
    last: Event | None                    # the latest event of this item: who, when, why


@dataclass
class RecordGroup:
    checkpoint: Checkpoint
    items: list[RecordItem]


@dataclass
class GraduateRecord:
    graduate: Graduate
    clearance: Clearance | None
    version: str
    groups: list[RecordGroup]
    events: list[Event]                   # newest first
    meta: dict[str, dict[str, Any]]

    def name_of(self, key: str | None) -> dict[str, Any]:
        if not key:
            return {}
        return self.meta.get(key) or {"key": key, "name": key}

    @property
    def done(self) -> int:
        return sum(1 for g in self.groups for r in g.items
                   if r.item.status in DONE_STATUSES and r.item.status != ItemStatus.NOT_REQUIRED)

    @property
    def total(self) -> int:
        return sum(1 for g in self.groups for r in g.items if r.item.status != ItemStatus.NOT_REQUIRED)


RECORD_EVENTS_LIMIT = 1000
REVERSALS = frozenset({"reopen", "auto_revert", "unwaive"})


def graduate_record(graduate: Graduate) -> GraduateRecord:
    """Every checkpoint's items and the whole event timeline, from the projection and the audit trail."""
    clearance = db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == graduate.id))
    events = list(db.session.scalars(
        sa.select(Event).where(Event.graduate_id == graduate.id).order_by(Event.id.desc())
        .limit(RECORD_EVENTS_LIMIT)))
    if clearance is None:
        return GraduateRecord(graduate, None, "", [], events, {})
    pv = db.session.execute(sa.select(ProcessVersion.gtype, ProcessVersion.version, ProcessVersion.items_meta)
                            .where(ProcessVersion.id == clearance.process_version_id)).one()
    meta = {m["key"]: m for m in (pv.items_meta or [])}
    last: dict[str, Event] = {}
    for e in events:                      # newest first: the first one seen is the latest
        if e.task_key and e.task_key not in last:
            last[e.task_key] = e
    groups: dict[int, RecordGroup] = {}
    for item in clearance.items:          # ordered by sort_order
        m = meta.get(item.task_key) or {"key": item.task_key, "name": item.task_key}
        group = groups.get(item.checkpoint_id)
        if group is None:
            group = groups[item.checkpoint_id] = RecordGroup(item.checkpoint, [])
        group.items.append(RecordItem(item, m, [meta.get(k) or {"key": k, "name": k} for k in item.blockers],
                                      last.get(item.task_key)))
    return GraduateRecord(graduate, clearance, f"v{pv.version}", list(groups.values()), events, meta)
