"""covering index for the checkpoint statistics (实时统计)

Counts by item and status of one checkpoint read only this index (SQLite: covering index;
PostgreSQL: index-only scan once the table is vacuumed), instead of visiting every item row.

Revision ID: 0004d
Revises: 0003
Create Date: 2026-11-24 02:45:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004d'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clearance_items', schema=None) as batch_op:
        batch_op.create_index('ix_clearance_items_checkpoint_key_status',
                              ['checkpoint_id', 'task_key', 'status', 'graduate_id'], unique=False)


def downgrade():
    with op.batch_alter_table('clearance_items', schema=None) as batch_op:
        batch_op.drop_index('ix_clearance_items_checkpoint_key_status')
