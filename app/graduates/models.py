from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.time import utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.workflow.models import Clearance


class Cohort(db.Model):
    """离校批次 / 届: one graduating year."""

    __tablename__ = "cohorts"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    opens_on: Mapped[date | None]
    closes_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    graduates: Mapped[list["Graduate"]] = relationship(back_populates="cohort", lazy="raise_on_sql")

    def __repr__(self) -> str:
        return f"<Cohort {self.year}>"


class Graduate(db.Model):
    """One graduating student of one cohort.

    The columns after ``advisor`` are *source attributes*: gateway conditions and
    auto-pass rules of the processes read them (see ``app.graduates.attributes``).
    """

    __tablename__ = "graduates"
    __table_args__ = (
        sa.UniqueConstraint("cohort_id", "student_no"),
        sa.Index("ix_graduates_cohort_class", "cohort_id", "class_name"),
        sa.Index("ix_graduates_cohort_dorm", "cohort_id", "dorm_building", "dorm_room"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(sa.ForeignKey("cohorts.id", ondelete="RESTRICT"))
    student_no: Mapped[str] = mapped_column(sa.String(32), index=True)
    name: Mapped[str] = mapped_column(sa.String(64), index=True)
    id_card: Mapped[str] = mapped_column(sa.String(18), index=True)
    gtype: Mapped[str] = mapped_column(sa.String(24))
    college: Mapped[str] = mapped_column(sa.String(64), default="")
    major: Mapped[str] = mapped_column(sa.String(64), default="")
    class_name: Mapped[str] = mapped_column(sa.String(64), default="")
    dorm_building: Mapped[str] = mapped_column(sa.String(32), default="")
    dorm_room: Mapped[str] = mapped_column(sa.String(16), default="")
    campus: Mapped[str] = mapped_column(sa.String(32), default="")
    phone: Mapped[str] = mapped_column(sa.String(32), default="")
    email: Mapped[str] = mapped_column(sa.String(120), default="")
    advisor: Mapped[str] = mapped_column(sa.String(64), default="")
    # source attributes ------------------------------------------------------
    has_national_loan: Mapped[bool] = mapped_column(default=False)
    has_origin_loan: Mapped[bool] = mapped_column(default=False)
    party_member: Mapped[bool] = mapped_column(default=False)
    league_member: Mapped[bool] = mapped_column(default=False)
    borrowed_instrument: Mapped[bool] = mapped_column(default=False)
    borrowed_switch: Mapped[bool] = mapped_column(default=False)
    library_books: Mapped[int] = mapped_column(default=0)
    library_fines: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal("0"))
    arrears: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal("0"))
    lives_on_campus: Mapped[bool] = mapped_column(default=True)
    certificates_deferred: Mapped[bool] = mapped_column(default=False)
    synced_at: Mapped[datetime | None]
    # login ------------------------------------------------------------------
    # NULL means "initial password": the last 6 characters of the ID-card number,
    # which must be changed at first login. Saves hashing 20,000 passwords at import.
    password_hash: Mapped[str | None] = mapped_column(sa.String(256))
    # part of the login session's id: raising it ends every session of the graduate (logout,
    # password change or reset); see app.auth.services.end_sessions
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # notifications: changes after this moment are "new" (badge in the header)
    notifications_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    cohort: Mapped[Cohort] = relationship(back_populates="graduates")
    clearance: Mapped["Clearance | None"] = relationship(back_populates="graduate", uselist=False)

    @property
    def dorm(self) -> str:
        return f"{self.dorm_building}-{self.dorm_room}" if self.dorm_building else ""

    def attributes(self) -> dict[str, Any]:
        from app.graduates.attributes import attributes_of

        return attributes_of(self)

    def __repr__(self) -> str:
        return f"<Graduate {self.student_no} {self.name}>"
