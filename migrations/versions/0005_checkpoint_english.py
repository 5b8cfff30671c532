"""English place, office hours and instructions of checkpoints

Adds ``checkpoints.place_en``, ``office_hours_en`` and ``instructions_en`` (empty: the Chinese
text is shown on English pages) and fills them for the catalogue checkpoints whose English
texts are still empty.

Revision ID: 0005
Revises: 0004d
Create Date: 2026-11-24 06:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004d"
branch_labels = None
depends_on = None

from app.workflow.catalog import DEFAULT_CHECKPOINTS_EN  # noqa: E402


def upgrade():
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("place_en", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("office_hours_en", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("instructions_en", sa.Text(), server_default="", nullable=False))
    checkpoints = sa.table("checkpoints", sa.column("key", sa.String), sa.column("place_en", sa.String),
                           sa.column("office_hours_en", sa.String), sa.column("instructions_en", sa.Text))
    for key, (place, hours, instructions) in DEFAULT_CHECKPOINTS_EN.items():
        op.execute(checkpoints.update()
                   .where(checkpoints.c.key == key, checkpoints.c.place_en == "", checkpoints.c.office_hours_en == "",
                          checkpoints.c.instructions_en == "")
                   .values(place_en=place, office_hours_en=hours, instructions_en=instructions))


def downgrade():
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_column("instructions_en")
        batch_op.drop_column("office_hours_en")
        batch_op.drop_column("place_en")
