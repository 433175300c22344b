"""watching together: the shared player of a room (film, position, playing)

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = ('0005',)


def upgrade() -> None:
    op.create_table(
        'watch_sessions',
        sa.Column('room_id', sa.Integer(), nullable=False),
        sa.Column('publication_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Float(), nullable=False),
        sa.Column('playing', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(['room_id'], ['breakout_rooms.id'],
                                name=op.f('fk_watch_sessions_room_id_breakout_rooms'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['publication_id'], ['publications.id'],
                                name=op.f('fk_watch_sessions_publication_id_publications'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('room_id', name=op.f('pk_watch_sessions')),
    )


def downgrade() -> None:
    op.drop_table('watch_sessions')
