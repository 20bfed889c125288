"""Issue 12: campaigns (resend once, draft versions, list)

Revision ID: i12_campaigns
Revises: i12_templates
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i12_campaigns'
down_revision = 'i12_templates'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
