"""proposals to KB: content for the next Träffpunkt and reports of national interest, their
review, the programme item one became

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'proposals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('theme_key', sa.String(length=80), nullable=False),
        sa.Column('proposer', sa.String(length=120), nullable=False),
        sa.Column('organisation', sa.String(length=200), nullable=False),
        sa.Column('region_code', sa.String(length=3), nullable=True),
        sa.Column('municipality', sa.String(length=120), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('links', sa.JSON(), nullable=False),
        sa.Column('document_name', sa.String(length=200), nullable=False),
        sa.Column('document_kind', sa.String(length=10), nullable=False),
        sa.Column('document_path', sa.String(length=300), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('registration_id', sa.Integer(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('item_id', sa.Integer(), nullable=True),
        sa.Column('item_event_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reviewed_by', sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'],
                                name=op.f('fk_proposals_event_id_events'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['region_code'], ['regions.code'],
                                name=op.f('fk_proposals_region_code_regions')),
        sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'],
                                name=op.f('fk_proposals_registration_id_registrations'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_proposals_user_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['item_id'], ['programme_items.id'],
                                name=op.f('fk_proposals_item_id_programme_items'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_proposals')),
    )
    op.create_index(op.f('ix_proposals_event_id'), 'proposals', ['event_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_proposals_event_id'), table_name='proposals')
    op.drop_table('proposals')
