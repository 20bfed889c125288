"""Issue 11: worker (filled in by the change that needs it; empty until then)

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
    pass


def downgrade():
    pass
