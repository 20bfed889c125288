"""Issue 14: the status poll's index holds only messages still on their way (accepted,
enroute), so that a final status adds no entry to it: one index fewer to write per status.

Rebuilding it reads the messages table once; PostgreSQL holds writes to the table meanwhile
(seconds per million messages), so upgrade while the workers are stopped.

Revision ID: i14_status_index
Revises: i14_sender_sync
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "i14_status_index"
down_revision = "i14_sender_sync"
branch_labels = None
depends_on = None

# As webapp/models/campaign.py LIVE_STATES_SQL says it today (a migration keeps its own copy).
LIVE = "state IN ('accepted', 'enroute')"


def upgrade():
    op.drop_index("ix_messages_state_next_check", table_name="messages")
    op.create_index(
        "ix_messages_state_next_check",
        "messages",
        ["state", "next_check_at"],
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )


def downgrade():
    op.drop_index("ix_messages_state_next_check", table_name="messages")
    op.create_index("ix_messages_state_next_check", "messages", ["state", "next_check_at"])
