"""Issue 14: failed send calls counted in send order per campaign (a claim sequence, and the
positions of the last counted failure)

Revision ID: i14_send_order
Revises: i13_language
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "i14_send_order"
down_revision = "i13_language"
branch_labels = None
depends_on = None

COLUMNS = ("claims", "failure_seq", "failure_claim_seq")


def upgrade():
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(
                sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
            )


def downgrade():
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
