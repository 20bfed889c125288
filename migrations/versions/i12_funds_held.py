"""Issue 12: what each campaign was estimated to cost when it was committed (the money its
unsent messages hold when another campaign is checked against the balance)

Revision ID: i12_funds_held
Revises: i12_notifications
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "i12_funds_held"
down_revision = "i12_notifications"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        # 0 for campaigns committed before: they hold nothing (not known).
        batch_op.add_column(
            sa.Column(
                "estimate", sa.Numeric(precision=14, scale=4), server_default="0", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("estimate_parts", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("estimate_parts")
        batch_op.drop_column("estimate")
