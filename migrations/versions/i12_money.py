"""Issue 12: money (balance before sending, decimal fields)

Revision ID: i12_money
Revises: i11_uploads
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i12_money'
down_revision = 'i11_uploads'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
