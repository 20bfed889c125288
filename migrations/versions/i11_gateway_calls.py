"""Issue 11: gateway calls: interactive gateway calls one at a time per team
(teams.gateway_call_running and teams.gateway_call_until)

Revision ID: i11_gateway_calls
Revises: i11_two_factor
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i11_gateway_calls'
down_revision = 'i11_two_factor'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gateway_call_running', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('gateway_call_until', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_column('gateway_call_until')
        batch_op.drop_column('gateway_call_running')
