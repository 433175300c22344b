"""feedback: form per event, one response per region, facilitators, individual ratings

Revision ID: 0008
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feedback_forms',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_feedback_forms_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_feedback_forms'))
    )
    op.create_table('feedback_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=3), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=120), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_by', sa.String(length=120), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('late_answers', sa.JSON(), nullable=True),
    sa.Column('late_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_feedback_responses_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_feedback_responses_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_responses')),
    sa.UniqueConstraint('event_id', 'region_code', name=op.f('uq_feedback_responses_event_id'))
    )
    op.create_table('feedback_facilitators',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=3), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_feedback_facilitators_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_feedback_facilitators_region_code_regions')),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_feedback_facilitators_registration_id_registrations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_feedback_facilitators_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'region_code', name=op.f('pk_feedback_facilitators'))
    )
    op.create_table('feedback_ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('rater_key', sa.String(length=64), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('region_code', sa.String(length=3), nullable=True),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('accessibility', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_feedback_ratings_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_feedback_ratings_region_code_regions')),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_feedback_ratings_registration_id_registrations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_ratings')),
    sa.UniqueConstraint('event_id', 'rater_key', name=op.f('uq_feedback_ratings_event_id'))
    )


def downgrade() -> None:
    op.drop_table('feedback_ratings')
    op.drop_table('feedback_facilitators')
    op.drop_table('feedback_responses')
    op.drop_table('feedback_forms')
