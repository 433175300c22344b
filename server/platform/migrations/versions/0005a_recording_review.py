"""recording: who saved a publication's edit, and the "no identifiable speaker" confirmation

Revision ID: 0005a
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = '0005a'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('publications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edited_by', sa.String(length=120), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('no_speakers_by', sa.String(length=120), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('no_speakers_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('publications', schema=None) as batch_op:
        batch_op.drop_column('no_speakers_at')
        batch_op.drop_column('no_speakers_by')
        batch_op.drop_column('edited_at')
        batch_op.drop_column('edited_by')
