"""Issue 11: accounts (filled in by the change that needs it; empty until then)

Revision ID: i11_accounts
Revises: 16b95a6427ca
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i11_accounts'
down_revision = '16b95a6427ca'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
