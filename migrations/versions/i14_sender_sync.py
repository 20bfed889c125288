"""Issue 14: the sender sync's schedule in the teams row (when each team is next due, and the
syncs in a row that found no names or failed), so that one worker syncs a team however many run

Existing teams start due (NULL): the first worker to start after the upgrade syncs them once,
as each worker did on start before.

Revision ID: i14_sender_sync
Revises: i14_operations
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "i14_sender_sync"
down_revision = "i14_operations"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("senders_next_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("senders_failures", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade():
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("senders_failures")
        batch_op.drop_column("senders_next_at")
