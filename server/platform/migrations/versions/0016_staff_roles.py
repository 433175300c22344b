"""roles per event: a staff member's role at one event (a facilitator's regions with it), and
the event and regions an invitation gives

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'staff_roles',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('regions', sa.JSON(), server_default='[]', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_staff_roles_user_id_users'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'],
                                name=op.f('fk_staff_roles_event_id_events'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_roles')),
        sa.UniqueConstraint('user_id', 'event_id', name=op.f('uq_staff_roles_user_id')),
    )
    op.create_index(op.f('ix_staff_roles_user_id'), 'staff_roles', ['user_id'])
    op.create_index(op.f('ix_staff_roles_event_id'), 'staff_roles', ['event_id'])
    with op.batch_alter_table('staff_tokens') as batch:
        batch.add_column(sa.Column('event_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('regions', sa.JSON(), server_default='[]', nullable=False))
        batch.create_foreign_key(op.f('fk_staff_tokens_event_id_events'), 'events',
                                 ['event_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('staff_tokens') as batch:
        batch.drop_constraint('fk_staff_tokens_event_id_events', type_='foreignkey')
        batch.drop_column('regions')
        batch.drop_column('event_id')
    op.drop_index(op.f('ix_staff_roles_event_id'), table_name='staff_roles')
    op.drop_index(op.f('ix_staff_roles_user_id'), table_name='staff_roles')
    op.drop_table('staff_roles')
