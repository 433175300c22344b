"""regional follow-up meetings: a round kind (the webcast day's rounds, or a follow-up
meeting's own room), the meetings with their agenda and invitation link

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = ('0006',)


def upgrade() -> None:
    with op.batch_alter_table('breakout_rounds') as batch:
        batch.add_column(sa.Column('kind', sa.String(length=10), server_default='day',
                                   nullable=False))
    op.create_table(
        'followup_meetings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('regions', sa.JSON(), nullable=False),
        sa.Column('item_ids', sa.JSON(), nullable=False),
        sa.Column('theme_keys', sa.JSON(), nullable=False),
        sa.Column('round_id', sa.Integer(), nullable=False),
        sa.Column('room_id', sa.Integer(), nullable=False),
        sa.Column('invite_key', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'],
                                name=op.f('fk_followup_meetings_event_id_events'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['round_id'], ['breakout_rounds.id'],
                                name=op.f('fk_followup_meetings_round_id_breakout_rounds'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['room_id'], ['breakout_rooms.id'],
                                name=op.f('fk_followup_meetings_room_id_breakout_rooms'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'],
                                name=op.f('fk_followup_meetings_created_by_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_followup_meetings')),
        sa.UniqueConstraint('invite_key', name=op.f('uq_followup_meetings_invite_key')),
    )
    op.create_index(op.f('ix_followup_meetings_event_id'), 'followup_meetings', ['event_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_followup_meetings_event_id'), table_name='followup_meetings')
    op.drop_table('followup_meetings')
    with op.batch_alter_table('breakout_rounds') as batch:
        batch.drop_column('kind')
