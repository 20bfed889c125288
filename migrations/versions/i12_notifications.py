"""Issue 12: notifications

Revision ID: i12_notifications
Revises: i12_campaigns
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i12_notifications'
down_revision = 'i12_campaigns'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
