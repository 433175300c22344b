"""live polls: questions with options, one vote per registration

Revision ID: 0011
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'polls',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('question', sa.String(length=200), nullable=False),
        sa.Column('options', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('on_screen', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=120), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_polls_event_id', 'polls', ['event_id'])
    op.create_table(
        'poll_votes',
        sa.Column('poll_id', sa.Integer(), nullable=False),
        sa.Column('registration_id', sa.Integer(), nullable=False),
        sa.Column('option', sa.Integer(), nullable=False),
        sa.Column('voted_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('poll_id', 'registration_id'),
    )


def downgrade() -> None:
    op.drop_table('poll_votes')
    op.drop_index('ix_polls_event_id', table_name='polls')
    op.drop_table('polls')
