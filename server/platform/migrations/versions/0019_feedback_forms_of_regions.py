"""feedback in the region's chosen form: attached documents, the region's own questions for its
municipalities, and the municipalities' own feedback to their region

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = ('0008',)


def _common() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('region_code', sa.String(length=3), nullable=False),
    ]


def _keys(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.ForeignKeyConstraint(['event_id'], ['events.id'],
                                name=op.f(f'fk_{table}_event_id_events'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['region_code'], ['regions.code'],
                                name=op.f(f'fk_{table}_region_code_regions')),
        sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{table}')),
    ]


def upgrade() -> None:
    op.create_table(
        'feedback_attachments', *_common(),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('path', sa.String(length=300), nullable=False),
        sa.Column('uploaded_by', sa.String(length=120), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        *_keys('feedback_attachments'),
    )
    op.create_table(
        'feedback_region_questions', *_common(),
        sa.Column('text', sa.String(length=500), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        *_keys('feedback_region_questions'),
    )
    op.create_table(
        'feedback_municipal', *_common(),
        sa.Column('municipality', sa.String(length=120), nullable=False),
        sa.Column('answers', sa.JSON(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('author', sa.String(length=120), nullable=False),
        sa.Column('registration_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        *_keys('feedback_municipal'),
        sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'],
                                name=op.f('fk_feedback_municipal_registration_id_registrations'),
                                ondelete='SET NULL'),
        sa.UniqueConstraint('event_id', 'region_code', 'municipality',
                            name=op.f('uq_feedback_municipal_event_id')),
    )
    for table in ('feedback_attachments', 'feedback_region_questions', 'feedback_municipal'):
        op.create_index(op.f(f'ix_{table}_event_id'), table, ['event_id'])


def downgrade() -> None:
    for table in ('feedback_municipal', 'feedback_region_questions', 'feedback_attachments'):
        op.drop_index(op.f(f'ix_{table}_event_id'), table_name=table)
        op.drop_table(table)
