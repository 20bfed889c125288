"""Issue 11: worker: whether each team's gateway answers (teams.gateway_silent_since and
teams.gateway_answered_at)

Revision ID: i11_worker
Revises: i11_gateway_calls
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i11_worker'
down_revision = 'i11_gateway_calls'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gateway_silent_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('gateway_answered_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_column('gateway_answered_at')
        batch_op.drop_column('gateway_silent_since')
