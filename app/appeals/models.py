"""The appeal table. Written by the portal (a graduate files one), the desk (an operator answers)
and the workflow (a confirmation resolves it)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.time import utcnow
from app.extensions import db


class AppealStatus:
    OPEN = "open"
    RESOLVED = "resolved"     # the operator confirmed the item
    DECLINED = "declined"     # the operator answered with a reason; the item stays open


class Appeal(db.Model):
    """A graduate's objection to one item ("我已还书"), answered at that item's checkpoint desk."""

    __tablename__ = "appeals"
    __table_args__ = (sa.Index("ix_appeals_checkpoint_status", "checkpoint_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int] = mapped_column(sa.ForeignKey("graduates.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("clearance_items.id", ondelete="CASCADE"), index=True)
    checkpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("checkpoints.id", ondelete="CASCADE"))
    task_key: Mapped[str] = mapped_column(sa.String(64))
    text: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default=AppealStatus.OPEN)
    answer: Mapped[str | None] = mapped_column(sa.Text)
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    answered_by: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
