"""Live statistics of one checkpoint (实时统计区): grouped counts over the projection.

Every figure is a ``GROUP BY`` over ``clearance_items`` (covering index
``ix_clearance_items_checkpoint_key_status``: checkpoint, item, status, graduate), joined with
``graduates`` only for the college / class breakdowns and, when several cohorts have processes, the
cohort. The workflow engine is never touched.

``cohort_id`` arguments: the cohort to count, or None for every clearance — pass None when the
cohort is the only one with published processes (every clearance belongs to it), which saves the
join on the hottest query.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.core.enums import GraduateType, ItemStatus
from app.core.time import utcnow
from app.extensions import db
from app.graduates.models import Cohort, Graduate
from app.workflow.models import Checkpoint, ClearanceItem, ProcessVersion

# column order of every statistics table
STATUSES: tuple[str, ...] = (
    ItemStatus.PENDING, ItemStatus.REJECTED, ItemStatus.BLOCKED,
    ItemStatus.PASSED, ItemStatus.WAIVED, ItemStatus.NOT_REQUIRED,
)
OPEN = "open"                       # pseudo status for lists: pending + rejected (the 待办 list)
LIST_STATUSES = (*STATUSES, OPEN)
PER_PAGE = 50


@dataclass
class StatRow:
    """Counts by status for one item, college or class."""

    key: str
    label: str
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, status: str, n: int) -> None:
        self.counts[status] = self.counts.get(status, 0) + n

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return self.count(ItemStatus.PASSED) + self.count(ItemStatus.WAIVED) + self.count(ItemStatus.NOT_REQUIRED)

    @property
    def open(self) -> int:
        return self.count(ItemStatus.PENDING) + self.count(ItemStatus.REJECTED)

    @property
    def percent(self) -> int:
        """Share of the items that are done (floor, so 100 % means really all)."""
        return 100 * self.done // self.total if self.total else 0


def _total(rows: list[StatRow], label: str) -> StatRow:
    total = StatRow("", label)
    for row in rows:
        for status, n in row.counts.items():
            total.add(status, n)
    return total


# ----------------------------------------------------------------------------- scope
def stat_cohorts() -> list[Cohort]:
    """Cohorts with a published process, newest first (the statistics are per cohort)."""
    with_versions = sa.select(ProcessVersion.cohort_id).distinct()
    return list(db.session.scalars(
        sa.select(Cohort).where(Cohort.id.in_(with_versions)).order_by(Cohort.year.desc())))


def checkpoint_items(checkpoint: Checkpoint, cohort_id: int) -> list[dict[str, Any]]:
    """Item metadata of this checkpoint in the cohort's processes, in process order.

    The newest version of each graduate type counts; when the types name the same item differently
    (财务处: 缴清欠费 / 缴清学杂费、财务借款) the names are joined, undergraduates' first.
    """
    rank = {t.value: i for i, t in enumerate(GraduateType)}
    rows = sorted(db.session.execute(
        sa.select(ProcessVersion.gtype, ProcessVersion.version, ProcessVersion.items_meta)
        .where(ProcessVersion.cohort_id == cohort_id)), key=lambda r: (rank.get(r.gtype, 99), -r.version))
    metas: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for gtype, _version, items in rows:
        if gtype in seen:           # an older version of a type already read
            continue
        seen.add(gtype)
        for m in items or []:
            if m.get("checkpoint") != checkpoint.key:
                continue
            known = metas.get(m["key"])
            if known is None:
                metas[m["key"]] = dict(m)
                continue
            for field_ in ("name", "name_en"):
                if m.get(field_) and m[field_] not in known.get(field_, "").split(" / "):
                    known[field_] = f"{known[field_]} / {m[field_]}" if known.get(field_) else m[field_]
    return sorted(metas.values(), key=lambda m: (m.get("order", 0), m["key"]))


def _scoped(stmt: sa.Select, checkpoint_id: int, cohort_id: int | None, *, task_key: str | None = None,
            college: str | None = None, class_name: str | None = None) -> sa.Select:
    stmt = stmt.where(ClearanceItem.checkpoint_id == checkpoint_id)
    if cohort_id is not None:
        stmt = stmt.where(Graduate.cohort_id == cohort_id)
    if task_key:
        stmt = stmt.where(ClearanceItem.task_key == task_key)
    if college is not None:
        stmt = stmt.where(Graduate.college == college)
    if class_name is not None:
        stmt = stmt.where(Graduate.class_name == class_name)
    return stmt


# ----------------------------------------------------------------------------- the panel
@dataclass
class Panel:
    """Everything the statistics panel shows for one checkpoint, cohort and selection."""

    items: list[StatRow]          # one row per item of the checkpoint
    items_total: StatRow
    item: str | None              # the item of the breakdown (None: all items)
    college: str | None           # None: by college; else by class within this college
    groups: list[StatRow]         # by college, or by class
    groups_total: StatRow
    at: datetime

    @property
    def empty(self) -> bool:
        return self.items_total.total == 0


def item_rows(checkpoint: Checkpoint, cohort_id: int | None, metas: list[dict[str, Any]], name) -> list[StatRow]:
    """Counts by item and status (one grouped query; an index-only scan without a cohort filter)."""
    rows = {m["key"]: StatRow(m["key"], name(m)) for m in metas}
    stmt = sa.select(ClearanceItem.task_key, ClearanceItem.status, sa.func.count())
    if cohort_id is not None:
        stmt = stmt.join(Graduate, Graduate.id == ClearanceItem.graduate_id)
    stmt = _scoped(stmt, checkpoint.id, cohort_id).group_by(ClearanceItem.task_key, ClearanceItem.status)
    for key, status, n in db.session.execute(stmt):
        row = rows.get(key)
        if row is None:            # an item of an older version only
            row = rows[key] = StatRow(key, key)
        row.add(status, n)
    return list(rows.values())


def group_rows(checkpoint: Checkpoint, cohort_id: int | None, *, task_key: str | None = None,
               college: str | None = None) -> list[StatRow]:
    """Counts by college (or, within ``college``, by class) and status (one grouped query)."""
    col = Graduate.class_name if college is not None else Graduate.college
    stmt = _scoped(
        sa.select(col, ClearanceItem.status, sa.func.count())
        .join(Graduate, Graduate.id == ClearanceItem.graduate_id),
        checkpoint.id, cohort_id, task_key=task_key, college=college,
    ).group_by(col, ClearanceItem.status)
    rows: dict[str, StatRow] = {}
    for value, status, n in db.session.execute(stmt):
        row = rows.get(value)
        if row is None:
            row = rows[value] = StatRow(value, value)
        row.add(status, n)
    return sorted(rows.values(), key=lambda r: r.key)


def panel(checkpoint: Checkpoint, cohort_id: int | None, *, metas: list[dict[str, Any]], name,
          item: str | None = None, college: str | None = None, total_label: str = "") -> Panel:
    """The statistics panel: per item, then by college (or class) for one item or all of them."""
    items = item_rows(checkpoint, cohort_id, metas, name)
    if item not in {r.key for r in items}:
        item = None
    groups = group_rows(checkpoint, cohort_id, task_key=item, college=college)
    return Panel(items, _total(items, total_label), item, college, groups, _total(groups, total_label), utcnow())


# ----------------------------------------------------------------------------- lists
@dataclass
class ListRow:
    graduate_id: int
    student_no: str
    name: str
    college: str
    major: str
    class_name: str
    dorm: str
    phone: str
    task_key: str
    status: str
    reason: str | None
    updated_at: datetime | None


@dataclass
class ListPage:
    rows: list[ListRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _list_stmt(checkpoint_id: int, cohort_id: int | None, *, task_key: str | None, status: str | None,
               college: str | None, class_name: str | None) -> sa.Select:
    stmt = _scoped(
        sa.select(Graduate.id, Graduate.student_no, Graduate.name, Graduate.college, Graduate.major,
                  Graduate.class_name, Graduate.dorm_building, Graduate.dorm_room, Graduate.phone,
                  ClearanceItem.task_key, ClearanceItem.status, ClearanceItem.reason,
                  ClearanceItem.updated_at, ClearanceItem.sort_order)
        .join(Graduate, Graduate.id == ClearanceItem.graduate_id),
        checkpoint_id, cohort_id, task_key=task_key, college=college, class_name=class_name)
    if status == OPEN:
        stmt = stmt.where(ClearanceItem.status.in_((ItemStatus.PENDING, ItemStatus.REJECTED)))
    elif status:
        stmt = stmt.where(ClearanceItem.status == status)
    return stmt


def _row(r: sa.Row) -> ListRow:
    dorm = f"{r.dorm_building}-{r.dorm_room}" if r.dorm_building else ""
    return ListRow(r.id, r.student_no, r.name, r.college, r.major, r.class_name, dorm, r.phone,
                   r.task_key, r.status, r.reason, r.updated_at)


def _ordered(stmt: sa.Select) -> sa.Select:
    return stmt.order_by(Graduate.college, Graduate.class_name, Graduate.student_no, ClearanceItem.sort_order)


def graduate_list(checkpoint: Checkpoint, cohort_id: int | None, *, task_key: str | None = None,
                  status: str | None = None, college: str | None = None, class_name: str | None = None,
                  page: int = 1, per_page: int = PER_PAGE) -> ListPage:
    """The graduates behind one number of the panel, by college, class and student number, paged."""
    stmt = _list_stmt(checkpoint.id, cohort_id, task_key=task_key, status=status, college=college,
                      class_name=class_name)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = db.session.execute(_ordered(stmt).limit(per_page).offset((page - 1) * per_page))
    return ListPage([_row(r) for r in rows], total, page, per_page)


def pending_list(checkpoint: Checkpoint, cohort_id: int | None, *, task_key: str | None = None,
                 college: str | None = None, class_name: str | None = None) -> Iterator[ListRow]:
    """Every pending or rejected item of the selection (the 待办 list for the export), streamed."""
    stmt = _list_stmt(checkpoint.id, cohort_id, task_key=task_key, status=OPEN, college=college,
                      class_name=class_name)
    for r in db.session.execute(_ordered(stmt).execution_options(yield_per=1000)):
        yield _row(r)
