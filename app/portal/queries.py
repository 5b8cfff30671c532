"""Read-only queries for the graduate's clearance sheet.

The sheet reads only the projection (``clearance_items`` joined with ``checkpoints``) and the
item metadata of the published version: it never loads or runs the workflow engine, so it
stays cheap when the whole cohort opens the page in the same half hour.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from app.core.enums import DONE_STATUSES, OPEN_STATUSES, ItemStatus
from app.extensions import db
from app.workflow.models import Checkpoint, Clearance, ClearanceItem, ProcessVersion


@dataclass
class SheetItem:
    key: str
    meta: dict[str, Any]
    status: str
    reason: str | None
    blockers: list[dict[str, Any]]        # metadata of the items this one waits for
    source: str | None
    updated_at: datetime | None
    waived_until: date | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def is_auto(self) -> bool:
        return bool(self.meta.get("auto_pass"))


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


@dataclass
class Sheet:
    clearance_status: str
    started_at: datetime
    updated_at: datetime
    groups: list[SheetGroup]

    @property
    def items(self) -> list[SheetItem]:
        return [i for g in self.groups for i in g.items]

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def done(self) -> int:
        return sum(1 for i in self.items if i.is_done)

    @property
    def open_items(self) -> list[tuple[SheetGroup, SheetItem]]:
        return [(g, i) for g in self.groups for i in g.items if i.is_open]

    @property
    def blocked_items(self) -> list[tuple[SheetGroup, SheetItem]]:
        return [(g, i) for g in self.groups for i in g.items if i.status == ItemStatus.BLOCKED]

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def meta_for_version(version_id: int) -> dict[str, dict[str, Any]]:
    """Item metadata by task key (only the JSON column, not the diagram)."""
    meta = db.session.scalar(sa.select(ProcessVersion.items_meta).where(ProcessVersion.id == version_id))
    return {m["key"]: m for m in (meta or [])}


def sheet_for(graduate_id: int) -> Sheet | None:
    """The graduate's clearance sheet, or None when no clearance was started."""
    row = db.session.execute(
        sa.select(Clearance.id, Clearance.status, Clearance.started_at, Clearance.updated_at,
                  ProcessVersion.items_meta)
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
    groups: dict[int, SheetGroup] = {}
    for item in rows:
        checkpoint = item.checkpoint
        group = groups.get(checkpoint.id)
        if group is None:
            group = groups[checkpoint.id] = SheetGroup(checkpoint)
        m = meta.get(item.task_key) or {"key": item.task_key, "name": item.task_key}
        group.items.append(SheetItem(
            key=item.task_key, meta=m, status=item.status, reason=item.reason,
            blockers=[meta.get(k) or {"key": k, "name": k} for k in item.blockers],
            source=item.source, updated_at=item.updated_at, waived_until=item.waived_until,
        ))
    # groups come in the order of their first item (dicts keep insertion order)
    return Sheet(row.status, row.started_at, row.updated_at, list(groups.values()))
