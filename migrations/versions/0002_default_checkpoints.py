"""seed the default checkpoint catalogue

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# A snapshot of app/workflow/catalog.py at the time of this migration.
from app.workflow.catalog import DEFAULT_CHECKPOINTS  # noqa: E402


def upgrade():
    checkpoints = sa.table(
        "checkpoints",
        sa.column("key", sa.String), sa.column("name", sa.String), sa.column("name_en", sa.String),
        sa.column("department", sa.String), sa.column("place", sa.String), sa.column("phone", sa.String),
        sa.column("office_hours", sa.String), sa.column("instructions", sa.Text),
        sa.column("sort_order", sa.Integer),
    )
    conn = op.get_bind()
    existing = {row[0] for row in conn.execute(sa.text("SELECT key FROM checkpoints"))}
    rows = [
        dict(key=k, name=n, name_en=en, department=d, place=p, phone=ph, office_hours=h, instructions=i,
             sort_order=(idx + 1) * 10)
        for idx, (k, n, en, d, p, ph, h, i) in enumerate(DEFAULT_CHECKPOINTS) if k not in existing
    ]
    if rows:
        op.bulk_insert(checkpoints, rows)


def downgrade():
    keys = [c[0] for c in DEFAULT_CHECKPOINTS]
    op.execute(sa.text("DELETE FROM checkpoints WHERE key IN :keys").bindparams(sa.bindparam("keys", expanding=True))
               .params(keys=keys))
