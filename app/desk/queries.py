"""Read-only queries for the operator desk (离校点工作台)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.core.enums import DONE_STATUSES, OPEN_STATUSES
from app.extensions import db
from app.graduates.idcard import normalise
from app.graduates.models import Cohort, Graduate
from app.portal.queries import meta_for_version
from app.workflow.models import Checkpoint, Clearance, ClearanceItem, Event

SEARCH_LIMIT = 50


def checkpoints_for(principal) -> list[Checkpoint]:
    """The checkpoints this staff member may work at (admins: every checkpoint)."""
    if principal.has_role("admin"):
        return list(db.session.scalars(sa.select(Checkpoint).order_by(Checkpoint.sort_order, Checkpoint.id)))
    return list(principal.user.checkpoints)


def _in_scope():
    """Graduates of any cohort that has started clearances."""
    cohorts_with_clearances = (sa.select(Graduate.cohort_id).join(Clearance, Clearance.graduate_id == Graduate.id)
                               .distinct())
    return Graduate.cohort_id.in_(cohorts_with_clearances)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class SearchResult:
    graduates: list[Graduate]
    truncated: bool = False


def search_graduates(q: str) -> SearchResult:
    """Student number (exact), ID-card number (exact, x or X) or name (partial)."""
    q = (q or "").strip()
    if not q:
        return SearchResult([])
    base = (sa.select(Graduate).join(Cohort, Cohort.id == Graduate.cohort_id).where(_in_scope())
            .order_by(Cohort.year.desc(), Graduate.student_no))
    ident = normalise(q)
    exact = list(db.session.scalars(base.where(sa.or_(
        Graduate.student_no == q,
        Graduate.id_card.in_({ident, ident.lower()}),
    )).limit(SEARCH_LIMIT + 1)))
    found = exact or list(db.session.scalars(
        base.where(Graduate.name.like(f"%{_escape_like(q)}%", escape="\\")).limit(SEARCH_LIMIT + 1)))
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
        return self.item.status in OPEN_STATUSES


@dataclass
class GraduateAtDesk:
    graduate: Graduate
    clearance: Clearance | None
    meta: dict[str, dict[str, Any]]
    items: list[DeskItem]                 # this checkpoint's items
    all_items: list[DeskItem]             # the whole sheet, for context
    events: list[Event]

    @property
    def done(self) -> int:
        return sum(1 for d in self.all_items if d.status in DONE_STATUSES)

    @property
    def total(self) -> int:
        return len(self.all_items)

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
