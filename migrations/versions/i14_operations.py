"""Issue 14: gateway calls counted for /metrics (by endpoint, outcome and latency bucket)

The workers' heartbeats and the status queues' last drains need no table: they are rows of
``leases`` (webapp/domain/operations.py).

Revision ID: i14_operations
Revises: i14_send_order
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "i14_operations"
down_revision = "i14_send_order"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "gateway_call_totals",
        sa.Column("endpoint", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("bucket", sa.String(length=8), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", "outcome", "bucket"),
    )


def downgrade():
    op.drop_table("gateway_call_totals")
