"""live captions: the lines a captioner typed during the webcast

Revision ID: 0010
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0001'
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.create_table(
        'caption_lines',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.String(length=300), nullable=False),
        sa.Column('author_user_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['author_user_id'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_caption_lines_event_id', 'caption_lines', ['event_id'])
    op.create_index('ix_caption_lines_created_at', 'caption_lines', ['created_at'])

def downgrade() -> None:
    op.drop_index('ix_caption_lines_created_at', table_name='caption_lines')
    op.drop_index('ix_caption_lines_event_id', table_name='caption_lines')
    op.drop_table('caption_lines')
