from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.enums import ClearanceStatus, ItemStatus
from app.core.time import utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.graduates.models import Cohort, Graduate


class Checkpoint(db.Model):
    """离校点: a department counter whose operators confirm items."""

    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name_en: Mapped[str] = mapped_column(sa.String(100), default="")
    department: Mapped[str] = mapped_column(sa.String(100), default="")
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    phone: Mapped[str] = mapped_column(sa.String(64), default="")
    office_hours: Mapped[str] = mapped_column(sa.String(200), default="")
    instructions: Mapped[str] = mapped_column(sa.Text, default="")
    # English versions for English pages; empty: the Chinese text is shown
    place_en: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    office_hours_en: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    instructions_en: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    sort_order: Mapped[int] = mapped_column(default=100)

    def display_name(self, locale: str | None = None) -> str:
        if locale and locale.startswith("en") and self.name_en:
            return self.name_en
        return self.name

    def local(self, field: str, locale: str | None = None) -> str:
        """``place``, ``office_hours`` or ``instructions`` in the page's language (Chinese when the
        English text is empty)."""
        if locale and locale.startswith("en"):
            english = getattr(self, f"{field}_en", "")
            if english:
                return english
        return getattr(self, field)

    def __repr__(self) -> str:
        return f"<Checkpoint {self.key}>"


class ProcessVersion(db.Model):
    """A published BPMN diagram for one cohort and graduate type. Immutable."""

    __tablename__ = "process_versions"
    __table_args__ = (sa.UniqueConstraint("cohort_id", "gtype", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(sa.ForeignKey("cohorts.id", ondelete="RESTRICT"))
    gtype: Mapped[str] = mapped_column(sa.String(24))
    version: Mapped[int]
    process_id: Mapped[str] = mapped_column(sa.String(128))
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    bpmn: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    # per user task: checkpoint, name, order, batch mode, auto rule, upstream items
    items_meta: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    published_by: Mapped[str] = mapped_column(sa.String(64), default="")
    published_at: Mapped[datetime] = mapped_column(default=utcnow)

    cohort: Mapped["Cohort"] = relationship()

    def meta_by_key(self) -> dict[str, dict[str, Any]]:
        return {m["key"]: m for m in self.items_meta}


@sa_event.listens_for(ProcessVersion, "before_update")
def _process_version_is_immutable(mapper, connection, target: ProcessVersion) -> None:  # noqa: ARG001
    raise ValueError("a published process version is immutable; publish a new version instead")


class Clearance(db.Model):
    """One graduate's process instance: engine state plus a version counter."""

    __tablename__ = "clearances"

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int] = mapped_column(
        sa.ForeignKey("graduates.id", ondelete="CASCADE"), unique=True
    )
    process_version_id: Mapped[int] = mapped_column(sa.ForeignKey("process_versions.id"), index=True)
    state: Mapped[bytes] = mapped_column(sa.LargeBinary)         # zlib-compressed engine JSON
    serializer_version: Mapped[str] = mapped_column(sa.String(8))
    status: Mapped[str] = mapped_column(sa.String(16), default=ClearanceStatus.IN_PROGRESS)
    version: Mapped[int] = mapped_column(default=1)               # bumped by every change
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    # the printed 离校单's QR code links to /verify/<slip_token> (set at submission)
    slip_token: Mapped[str | None] = mapped_column(sa.String(64), unique=True)

    graduate: Mapped["Graduate"] = relationship(back_populates="clearance")
    process_version: Mapped[ProcessVersion] = relationship()
    items: Mapped[list["ClearanceItem"]] = relationship(
        back_populates="clearance", order_by="ClearanceItem.sort_order", lazy="selectin"
    )


class ClearanceItem(db.Model):
    """The projection: one row per user task of the graduate's process."""

    __tablename__ = "clearance_items"
    __table_args__ = (
        sa.UniqueConstraint("clearance_id", "task_key"),
        sa.Index("ix_clearance_items_checkpoint_status", "checkpoint_id", "status"),
        # covering index of the checkpoint statistics (app.desk.stats), migration 0004d
        sa.Index("ix_clearance_items_checkpoint_key_status", "checkpoint_id", "task_key", "status", "graduate_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clearance_id: Mapped[int] = mapped_column(sa.ForeignKey("clearances.id", ondelete="CASCADE"))
    graduate_id: Mapped[int] = mapped_column(sa.ForeignKey("graduates.id", ondelete="CASCADE"), index=True)
    checkpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("checkpoints.id"))
    task_key: Mapped[str] = mapped_column(sa.String(64))
    sort_order: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    status: Mapped[str] = mapped_column(sa.String(16), default=ItemStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    blocked_by: Mapped[str | None] = mapped_column(sa.String(400))   # comma-joined task keys
    source: Mapped[str | None] = mapped_column(sa.String(8))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime | None]
    waived_until: Mapped[date | None]

    clearance: Mapped[Clearance] = relationship(back_populates="items")
    checkpoint: Mapped[Checkpoint] = relationship(lazy="joined")

    @property
    def blockers(self) -> list[str]:
        return self.blocked_by.split(",") if self.blocked_by else []


class Event(db.Model):
    """Append-only audit trail of every change."""

    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_graduate_at", "graduate_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("graduates.id", ondelete="SET NULL")
    )
    clearance_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clearances.id", ondelete="SET NULL"))
    task_key: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(32))
    old: Mapped[str | None] = mapped_column(sa.String(32))
    new: Mapped[str | None] = mapped_column(sa.String(32))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    source: Mapped[str] = mapped_column(sa.String(8), default="manual")
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(sa.String(64), default="")
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


@sa_event.listens_for(Event, "before_update")
def _events_are_append_only(mapper, connection, target: Event) -> None:  # noqa: ARG001
    raise ValueError("audit events are append-only")
