"""Per-account session version (server-side session revocation)

Adds ``users.session_version`` and ``graduates.session_version`` (0). The login session stores
the version it was issued for; raising it (logout, password change or reset, deactivation) ends
every session of that account at once. Sessions issued before this revision carry no version and
are ended too: everybody logs in once more.

Revision ID: 0006_sec
Revises: 0005
Create Date: 2026-12-03 09:50:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0006_sec"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    for table in ("users", "graduates"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    for table in ("graduates", "users"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("session_version")
