"""通知公告: school announcements shown to graduates (a cohort's own and the global ones)."""
from __future__ import annotations

import sqlalchemy as sa

from app.core.time import utcnow
from app.extensions import db
from app.graduates.models import Cohort
from app.portal.models import Announcement


def _visible(cohort_id: int):
    return (sa.select(Announcement)
            .where(sa.or_(Announcement.cohort_id == cohort_id, Announcement.cohort_id.is_(None)),
                   Announcement.published_at <= utcnow())
            .order_by(Announcement.pinned.desc(), Announcement.published_at.desc(), Announcement.id.desc()))


def announcements_for(cohort_id: int, limit: int | None = None) -> list[Announcement]:
    """Pinned first, then newest first."""
    stmt = _visible(cohort_id)
    return list(db.session.scalars(stmt.limit(limit) if limit else stmt))


def publish_announcement(title: str, body: str, *, cohort: Cohort | None = None, pinned: bool = False,
                         created_by: str = "") -> Announcement:
    title, body = (title or "").strip(), (body or "").strip()
    if not title:
        raise ValueError("an announcement needs a title")
    if len(title) > 200:
        raise ValueError("the title is longer than 200 characters")
    announcement = Announcement(title=title, body=body, cohort_id=cohort.id if cohort else None,
                                pinned=pinned, created_by=created_by[:64], published_at=utcnow())
    db.session.add(announcement)
    db.session.commit()
    return announcement
