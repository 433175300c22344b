"""recording: stage recordings, chapter marks, publications, speakers' consent, retention

Revision ID: 0005
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('recording_options',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('auto_record', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_recording_options_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_recording_options'))
    )
    op.create_table('recording_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('retention_days', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_policy'))
    )
    op.create_table('recordings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('file_path', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('node_id', sa.String(length=40), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_seconds', sa.Float(), nullable=True),
    sa.Column('started_by', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_recordings_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings'))
    )
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recordings_event_id'), ['event_id'], unique=False)
    op.create_table('recording_chapter_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('offset_seconds', sa.Float(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['programme_items.id'], name=op.f('fk_recording_chapter_marks_item_id_programme_items'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_recording_chapter_marks_recording_id_recordings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_chapter_marks'))
    )
    with op.batch_alter_table('recording_chapter_marks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_chapter_marks_recording_id'), ['recording_id'], unique=False)
    op.create_table('publications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('speakers', sa.JSON(), nullable=False),
    sa.Column('chapters', sa.JSON(), nullable=False),
    sa.Column('trim_in', sa.Float(), nullable=False),
    sa.Column('trim_out', sa.Float(), nullable=True),
    sa.Column('poster_at', sa.Float(), nullable=True),
    sa.Column('captions_vtt', sa.Text(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('rights', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=20), nullable=False),
    sa.Column('error_code', sa.String(length=60), nullable=False),
    sa.Column('error_message', sa.String(length=500), nullable=False),
    sa.Column('output_dir', sa.String(length=500), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_publications_recording_id_recordings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publications')),
    sa.UniqueConstraint('recording_id', name=op.f('uq_publications_recording_id'))
    )
    op.create_table('speaker_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('publication_id', sa.Integer(), nullable=False),
    sa.Column('speaker_name', sa.String(length=120), nullable=False),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.Column('confirmed_by', sa.String(length=120), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['users.id'], name=op.f('fk_speaker_consents_confirmed_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['publication_id'], ['publications.id'], name=op.f('fk_speaker_consents_publication_id_publications'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_speaker_consents')),
    sa.UniqueConstraint('publication_id', 'speaker_name', name=op.f('uq_speaker_consents_publication_id'))
    )
    with op.batch_alter_table('speaker_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_speaker_consents_publication_id'), ['publication_id'], unique=False)


def downgrade() -> None:
    op.drop_table('speaker_consents')
    op.drop_table('publications')
    op.drop_table('recording_chapter_marks')
    op.drop_table('recordings')
    op.drop_table('recording_policy')
    op.drop_table('recording_options')
