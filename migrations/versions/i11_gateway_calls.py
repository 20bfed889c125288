"""Issue 11: gateway calls (filled in by the change that needs it; empty until then)

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
    pass


def downgrade():
    pass
