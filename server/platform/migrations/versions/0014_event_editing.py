"""events edited in the browser: status (draft, published, archived), an English description,
material links per programme item

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.add_column(sa.Column('description_en', sa.Text(), nullable=False,
                                   server_default=''))
        # Events made before there was a status were all public.
        batch.add_column(sa.Column('status', sa.String(length=10), nullable=False,
                                   server_default='published'))
    with op.batch_alter_table('programme_items') as batch:
        batch.add_column(sa.Column('materials', sa.JSON(), nullable=False,
                                   server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('programme_items') as batch:
        batch.drop_column('materials')
    with op.batch_alter_table('events') as batch:
        batch.drop_column('status')
        batch.drop_column('description_en')
