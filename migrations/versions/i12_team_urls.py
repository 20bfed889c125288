"""Issue 12: links that work across teams

Revision ID: i12_team_urls
Revises: i12_notifications
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i12_team_urls'
down_revision = 'i12_notifications'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
