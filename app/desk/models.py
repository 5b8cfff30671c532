"""Desk data: per-checkpoint reason templates and uploaded Excel batches awaiting confirmation."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.time import utcnow
from app.extensions import db


class ReasonTemplate(db.Model):
    """A ready-made rejection reason of one checkpoint (e.g. "欠电费 {金额} 元")."""

    __tablename__ = "reason_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("checkpoints.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(sa.String(200))
    text_en: Mapped[str] = mapped_column(sa.String(200), default="")
    sort_order: Mapped[int] = mapped_column(default=100)


class DeskUpload(db.Model):
    """An Excel/CSV batch: parsed and previewed first, applied on confirmation (once)."""

    __tablename__ = "desk_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    checkpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("checkpoints.id", ondelete="CASCADE"))
    task_key: Mapped[str] = mapped_column(sa.String(64))
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    # one dict per data row: line, student_no, outcome, reason, verdict, graduate_id, message
    rows: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None]
    # per row after applying: line -> {ok, code, message}
    result: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON)
