"""Issue 12: the composer (long texts, placeholders with fallbacks)

Revision ID: i12_composer
Revises: i12_money
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i12_composer'
down_revision = 'i12_money'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
