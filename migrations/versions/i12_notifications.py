"""Issue 12: notifications

Revision ID: i12_notifications
Revises: i12_campaigns
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i12_notifications'
down_revision = 'i12_campaigns'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'notifications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('mail_state', sa.String(length=16), nullable=False),
        sa.Column('mail_claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('mail_attempts', sa.Integer(), nullable=False),
        sa.Column('mail_next_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('mail_error', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['event_id'], ['audit_events.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'event_id', name='uq_notifications_user_event'),
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_id', ['user_id', 'id'], unique=False)
        batch_op.create_index('ix_notifications_mail_state', ['mail_state', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_campaign_id'), ['campaign_id'], unique=False)

    op.create_table(
        'notification_settings',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('delivery', sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'kind'),
    )


def downgrade():
    op.drop_table('notification_settings')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_campaign_id'))
        batch_op.drop_index(batch_op.f('ix_notifications_team_id'))
        batch_op.drop_index('ix_notifications_mail_state')
        batch_op.drop_index('ix_notifications_user_id')
    op.drop_table('notifications')
