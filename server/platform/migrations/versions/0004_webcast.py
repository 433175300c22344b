"""webcast: one stage per event with the hash of its WHIP publishing token

Revision ID: 0004
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stages',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rotated_by', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_stages_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_stages'))
    )


def downgrade() -> None:
    op.drop_table('stages')
