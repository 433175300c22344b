"""programme items: the organisations of an item besides its speakers' own

Revision ID: 0009
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('programme_items', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('organisations', sa.JSON(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('programme_items', schema=None) as batch_op:
        batch_op.drop_column('organisations')
