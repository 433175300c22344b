"""recording: films per programme item, cut from the day's recording (a publication with a
parent, the day's, and the item it shows); one whole-day publication per recording

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

DAY = sa.text('parent_id IS NULL')


def upgrade() -> None:
    with op.batch_alter_table('publications', schema=None) as batch_op:
        batch_op.drop_constraint('uq_publications_recording_id', type_='unique')
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('item_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_publications_parent_id_publications'),
                                    'publications', ['parent_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_publications_item_id_programme_items'),
                                    'programme_items', ['item_id'], ['id'], ondelete='SET NULL')
        batch_op.create_unique_constraint(batch_op.f('uq_publications_parent_id'),
                                          ['parent_id', 'item_id'])
        batch_op.create_index(batch_op.f('ix_publications_recording_id'), ['recording_id'])
        batch_op.create_index(batch_op.f('ix_publications_parent_id'), ['parent_id'])
        batch_op.create_index('uq_publications_day', ['recording_id'], unique=True,
                              postgresql_where=DAY, sqlite_where=DAY)


def downgrade() -> None:
    op.execute('DELETE FROM publications WHERE parent_id IS NOT NULL')
    with op.batch_alter_table('publications', schema=None) as batch_op:
        batch_op.drop_index('uq_publications_day')
        batch_op.drop_index(batch_op.f('ix_publications_parent_id'))
        batch_op.drop_index(batch_op.f('ix_publications_recording_id'))
        batch_op.drop_constraint(batch_op.f('uq_publications_parent_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_publications_item_id_programme_items'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_publications_parent_id_publications'),
                                 type_='foreignkey')
        batch_op.drop_column('item_id')
        batch_op.drop_column('parent_id')
        batch_op.create_unique_constraint('uq_publications_recording_id', ['recording_id'])
