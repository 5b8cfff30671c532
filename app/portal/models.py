"""Graduate-facing data: announcements, surveys, appeals and the e-mail outbox."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.time import utcnow
from app.appeals.models import Appeal, AppealStatus  # noqa: F401 - moved to the appeals domain
from app.extensions import db


class Announcement(db.Model):
    """通知公告 shown on the portal home page (cohort_id NULL: every cohort)."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cohorts.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    pinned: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(64), default="")


class Survey(db.Model):
    """An optional questionnaire (离校调查) a graduate answers once before the sheet appears."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(sa.ForeignKey("cohorts.id", ondelete="CASCADE"), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    intro: Mapped[str] = mapped_column(sa.Text, default="")
    # [{"key": "q1", "text": "...", "kind": "choice"|"text", "options": [...], "required": true}]
    questions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyResponse(db.Model):
    __tablename__ = "survey_responses"
    __table_args__ = (sa.UniqueConstraint("survey_id", "graduate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"))
    graduate_id: Mapped[int] = mapped_column(sa.ForeignKey("graduates.id", ondelete="CASCADE"), index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailOutbox(db.Model):
    """Notification e-mails, written in the change's transaction and sent afterwards."""

    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int | None] = mapped_column(sa.ForeignKey("graduates.id", ondelete="CASCADE"), index=True)
    to_addr: Mapped[str] = mapped_column(sa.String(200))
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
