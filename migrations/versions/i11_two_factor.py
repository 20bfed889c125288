"""Issue 11: two factor (filled in by the change that needs it; empty until then)

Revision ID: i11_two_factor
Revises: i11_accounts
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i11_two_factor'
down_revision = 'i11_accounts'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
