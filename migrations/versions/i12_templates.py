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
    pass


def downgrade():
    pass
