"""staff from the browser: staff e-mail addresses, invitation and password-reset links,
the single sign-on subject

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch.add_column(sa.Column('oidc_subject', sa.String(length=300), nullable=True))
        batch.create_unique_constraint(op.f('uq_users_email'), ['email'])
        batch.create_unique_constraint(op.f('uq_users_oidc_subject'), ['oidc_subject'])
    op.create_table(
        'staff_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('display_name', sa.String(length=120), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_staff_tokens_user_id_users'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'],
                                name=op.f('fk_staff_tokens_created_by_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_staff_tokens_token_hash')),
    )


def downgrade() -> None:
    op.drop_table('staff_tokens')
    with op.batch_alter_table('users') as batch:
        batch.drop_constraint('uq_users_oidc_subject', type_='unique')
        batch.drop_constraint('uq_users_email', type_='unique')
        batch.drop_column('oidc_subject')
        batch.drop_column('email')
