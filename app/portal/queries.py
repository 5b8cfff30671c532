"""Read-only queries for the graduate's own pages: sheet, live diagram and history.

They read only the projection (``clearance_items`` joined with ``checkpoints``), the item
metadata of the published version and the audit ``events``: they never load or run the
workflow engine, and each page costs a constant number of queries whatever the number of
items, so the portal stays cheap when the whole cohort opens it in the same half hour.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from app.core.enums import DONE_STATUSES, OPEN_STATUSES, ClearanceStatus, ItemStatus
from app.extensions import db
from app.portal.models import Appeal
from app.workflow.models import Checkpoint, Clearance, ClearanceItem, Event, ProcessVersion

# Reversals: an item goes back from done to open (shown as such in the history).
REVERSAL_ACTIONS = frozenset({"reopen", "unwaive", "auto_revert"})


@dataclass
class SheetItem:
    """One item of the sheet (the template variable ``item``, also given to ``_item_appeal.html``)."""

    id: int                               # ClearanceItem.id
    key: str                              # task key (BPMN user task id)
    meta: dict[str, Any]                  # ProcessVersion.items_meta entry (name, name_en, documentation, ...)
    checkpoint: Checkpoint
    status: str                           # an ItemStatus value
    reason: str | None
    blockers: list[dict[str, Any]]        # metadata of the items this one waits for
    source: str | None
    updated_at: datetime | None
    waived_until: date | None
    appeal: Appeal | None = None          # the graduate's latest appeal about this item

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def is_auto(self) -> bool:
        return bool(self.meta.get("auto_pass"))

    def waiver_expired(self, today: date) -> bool:
        return self.status == ItemStatus.WAIVED and self.waived_until is not None and self.waived_until < today


@dataclass
class SheetGroup:
    checkpoint: Checkpoint
    items: list[SheetItem] = field(default_factory=list)

    @property
    def open_count(self) -> int:
        return sum(1 for i in self.items if i.is_open)

    @property
    def all_done(self) -> bool:
        return all(i.is_done for i in self.items)

    @property
    def applies(self) -> bool:
        return any(i.status != ItemStatus.NOT_REQUIRED for i in self.items)


@dataclass
class Sheet:
    clearance_id: int
    clearance_status: str
    started_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    process_version_id: int
    groups: list[SheetGroup]

    @property
    def items(self) -> list[SheetItem]:
        return [i for g in self.groups for i in g.items]

    @property
    def total(self) -> int:
        """The items that apply to this graduate (not-required ones are not counted)."""
        return sum(1 for i in self.items if i.status != ItemStatus.NOT_REQUIRED)

    @property
    def done(self) -> int:
        """Passed or waived items among :attr:`total`."""
        return sum(1 for i in self.items if i.is_done and i.status != ItemStatus.NOT_REQUIRED)

    @property
    def open_items(self) -> list[SheetItem]:
        """Pending and not-passed items, in process order (the to-do summary)."""
        return [i for i in self.items if i.is_open]

    def todo_items(self, today: date) -> list[SheetItem]:
        """The to-do summary: open items and expired deferrals; the ones with a problem (not passed,
        deferral expired) first, each group in process order."""
        todo = [i for i in self.items if i.is_open or i.waiver_expired(today)]
        return sorted(todo, key=lambda i: 0 if i.status == ItemStatus.REJECTED or i.waiver_expired(today) else 1)

    @property
    def blocked_items(self) -> list[SheetItem]:
        return [i for i in self.items if i.status == ItemStatus.BLOCKED]

    @property
    def has_auto(self) -> bool:
        return any(i.is_auto for i in self.items)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def meta_for_version(version_id: int) -> dict[str, dict[str, Any]]:
    """Item metadata by task key (only the JSON column, not the diagram)."""
    meta = db.session.scalar(sa.select(ProcessVersion.items_meta).where(ProcessVersion.id == version_id))
    return {m["key"]: m for m in (meta or [])}


def _fallback_meta(key: str) -> dict[str, Any]:
    return {"key": key, "name": key}


def sheet_for(graduate_id: int, *, with_appeals: bool = True) -> Sheet | None:
    """The graduate's clearance sheet, or None when no clearance was started.

    Three queries whatever the number of items: clearance + item metadata, items + checkpoints,
    appeals (skipped with ``with_appeals=False``).
    """
    row = db.session.execute(
        sa.select(Clearance.id, Clearance.status, Clearance.started_at, Clearance.updated_at,
                  Clearance.submitted_at, Clearance.process_version_id, ProcessVersion.items_meta)
        .join(ProcessVersion, ProcessVersion.id == Clearance.process_version_id)
        .where(Clearance.graduate_id == graduate_id)
    ).first()
    if row is None:
        return None
    meta = {m["key"]: m for m in (row.items_meta or [])}
    rows = db.session.scalars(
        sa.select(ClearanceItem)
        .join(ClearanceItem.checkpoint)
        .options(contains_eager(ClearanceItem.checkpoint))
        .where(ClearanceItem.clearance_id == row.id)
        .order_by(ClearanceItem.sort_order, ClearanceItem.id)
    ).all()
    appeals: dict[int, Appeal] = {}
    if with_appeals and rows:
        for appeal in db.session.scalars(
                sa.select(Appeal).where(Appeal.graduate_id == graduate_id).order_by(Appeal.id)):
            appeals[appeal.item_id] = appeal            # the latest one wins
    groups: dict[int, SheetGroup] = {}
    for item in rows:
        checkpoint = item.checkpoint
        group = groups.get(checkpoint.id)
        if group is None:
            group = groups[checkpoint.id] = SheetGroup(checkpoint)
        group.items.append(SheetItem(
            id=item.id, key=item.task_key, meta=meta.get(item.task_key) or _fallback_meta(item.task_key),
            checkpoint=checkpoint, status=item.status, reason=item.reason,
            blockers=[meta.get(k) or _fallback_meta(k) for k in item.blockers],
            source=item.source, updated_at=item.updated_at, waived_until=item.waived_until,
            appeal=appeals.get(item.id),
        ))
    # groups come in the order of their first item (process order; dicts keep insertion order)
    return Sheet(row.id, row.status, row.started_at, row.updated_at, row.submitted_at,
                 row.process_version_id, list(groups.values()))


@dataclass
class Diagram:
    """The published BPMN of the graduate's process version."""

    xml: str
    version: int
    gtype: str
    sha256: str


def all_checkpoints() -> list[Checkpoint]:
    return list(db.session.scalars(sa.select(Checkpoint).order_by(Checkpoint.sort_order)))


def diagram_for(process_version_id: int) -> Diagram:
    row = db.session.execute(
        sa.select(ProcessVersion.bpmn, ProcessVersion.version, ProcessVersion.gtype, ProcessVersion.sha256)
        .where(ProcessVersion.id == process_version_id)
    ).one()
    return Diagram(bytes(row.bpmn).decode("utf-8"), row.version, row.gtype, row.sha256)


# ----------------------------------------------------------------------------- history
@dataclass
class HistoryEntry:
    id: int
    at: datetime
    action: str
    task_key: str | None
    meta: dict[str, Any] | None           # item metadata (None for clearance-level events)
    old: str | None
    new: str | None
    reason: str | None
    source: str
    actor: str

    @property
    def is_reversal(self) -> bool:
        """An item going back from done to open or waiting, whatever caused it."""
        if self.action in REVERSAL_ACTIONS:
            return True
        if self.action == "status":       # the whole clearance fell back from eligible / completed
            return self.new == ClearanceStatus.IN_PROGRESS and self.old != ClearanceStatus.IN_PROGRESS
        return (self.task_key is not None and self.old in DONE_STATUSES
                and self.new in (OPEN_STATUSES | {ItemStatus.BLOCKED}))


@dataclass
class HistoryPage:
    entries: list[HistoryEntry]
    page: int
    per_page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def history_for(graduate_id: int, page: int = 1, per_page: int = 25) -> HistoryPage:
    """The graduate's events, newest first, one page (two queries: item names, events)."""
    page = max(1, page)
    meta: dict[str, dict[str, Any]] = {}
    items_meta = db.session.scalar(
        sa.select(ProcessVersion.items_meta)
        .join(Clearance, Clearance.process_version_id == ProcessVersion.id)
        .where(Clearance.graduate_id == graduate_id))
    if items_meta:
        meta = {m["key"]: m for m in items_meta}
    rows = db.session.execute(
        sa.select(Event.id, Event.at, Event.action, Event.task_key, Event.old, Event.new, Event.reason,
                  Event.source, Event.actor)
        .where(Event.graduate_id == graduate_id)
        .order_by(Event.id.desc())
        .limit(per_page + 1).offset((page - 1) * per_page)
    ).all()
    entries = [
        HistoryEntry(r.id, r.at, r.action, r.task_key,
                     (meta.get(r.task_key) or _fallback_meta(r.task_key)) if r.task_key else None,
                     r.old, r.new, r.reason, r.source, r.actor)
        for r in rows[:per_page]
    ]
    return HistoryPage(entries, page, per_page, len(rows) > per_page)
