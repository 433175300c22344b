"""mail: the outbox; registration opening, deadline, cap and address confirmation; the
registrant's language; retention of registrations; the event's schedule version (its calendar invitation's SEQUENCE)

Revision ID: 0013
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mail_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=True),
        sa.Column('registration_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('to_address', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('calendar', sa.Text(), nullable=True),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'],
                                name=op.f('fk_mail_outbox_event_id_events'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'],
                                name=op.f('fk_mail_outbox_registration_id_registrations'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox')),
    )
    op.create_index(op.f('ix_mail_outbox_event_id'), 'mail_outbox', ['event_id'])
    op.create_index(op.f('ix_mail_outbox_registration_id'), 'mail_outbox', ['registration_id'])
    op.create_index(op.f('ix_mail_outbox_state'), 'mail_outbox', ['state'])
    op.create_index(op.f('ix_mail_outbox_next_attempt_at'), 'mail_outbox', ['next_attempt_at'])
    with op.batch_alter_table('events') as batch:
        batch.add_column(sa.Column('registration_opens_at', sa.DateTime(timezone=True)))
        batch.add_column(sa.Column('registration_closes_at', sa.DateTime(timezone=True)))
        batch.add_column(sa.Column('registration_cap', sa.Integer()))
        batch.add_column(sa.Column('confirm_email', sa.Boolean(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('schedule_version', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('retention_months', sa.Integer(), nullable=False,
                                   server_default='12'))
    with op.batch_alter_table('registrations') as batch:
        batch.add_column(sa.Column('language', sa.String(length=2), nullable=False,
                                   server_default='sv'))
        batch.add_column(sa.Column('confirmed_at', sa.DateTime(timezone=True)))
        batch.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True)))
    # Everyone registered before confirmation existed counts.
    op.execute("UPDATE registrations SET confirmed_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table('registrations') as batch:
        batch.drop_column('anonymised_at')
        batch.drop_column('confirmed_at')
        batch.drop_column('language')
    with op.batch_alter_table('events') as batch:
        for column in ('retention_months', 'schedule_version', 'confirm_email', 'registration_cap',
                       'registration_closes_at', 'registration_opens_at'):
            batch.drop_column(column)
    op.drop_table('mail_outbox')
