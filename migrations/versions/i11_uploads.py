"""Issue 11: uploads (filled in by the change that needs it; empty until then)

Revision ID: i11_uploads
Revises: i11_worker
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i11_uploads'
down_revision = 'i11_worker'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
