from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.core.time import utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.workflow.models import Checkpoint

user_checkpoints = sa.Table(
    "user_checkpoints",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("checkpoint_id", sa.ForeignKey("checkpoints.id", ondelete="CASCADE"), primary_key=True),
)


class User(db.Model):
    """A staff account: admin, checkpoint operator or read-only leader."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(64), default="")
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    active: Mapped[bool] = mapped_column(default=True)
    # part of the login session's id: raising it ends every session of the account (logout,
    # password change, deactivation); see app.auth.services.end_sessions
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # leaders: optional scope (college name); empty = whole school
    scope_college: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    checkpoints: Mapped[list["Checkpoint"]] = relationship(
        secondary=user_checkpoints, order_by="Checkpoint.sort_order", lazy="selectin"
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"
