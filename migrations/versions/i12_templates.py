"""Issue 12: message templates and test sends

Revision ID: i12_templates
Revises: i12_composer
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i12_templates'
down_revision = 'i12_composer'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('test_of', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_campaigns_test_of'), ['test_of'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=16), nullable=True))

    op.create_table(
        'message_templates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('sender', sa.String(length=32), nullable=True),
        sa.Column('flash', sa.Boolean(), nullable=False),
        sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('message_templates', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_message_templates_team_id'), ['team_id'], unique=False
        )
        batch_op.create_index(
            'uq_message_templates_team_name_live',
            ['team_id', 'name'],
            unique=True,
            sqlite_where=sa.text('archived_at IS NULL'),
            postgresql_where=sa.text('archived_at IS NULL'),
        )


def downgrade():
    with op.batch_alter_table('message_templates', schema=None) as batch_op:
        batch_op.drop_index('uq_message_templates_team_name_live')
        batch_op.drop_index(batch_op.f('ix_message_templates_team_id'))
    op.drop_table('message_templates')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('phone')

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_test_of'))
        batch_op.drop_column('test_of')
