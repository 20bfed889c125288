"""Issue 13: the language a person chose for the dashboard (none: their browser's)

Revision ID: i13_language
Revises: i12_funds_held
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "i13_language"
down_revision = "i12_funds_held"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("language")
