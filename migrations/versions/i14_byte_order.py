"""Issue 14: on PostgreSQL, a message's state and gateway id compare byte by byte (collation
"C"), as SQLite compares every text: each status writes an entry into both columns' indexes,
and the database's own collation compares through the C library's rules, which cost more per
comparison. Equality is the same under either (both are deterministic); the one order taken
on these columns is the order in which rows are locked, which needs to be the same for every
writer, not a language's.

Only the indexes on those columns are rebuilt (the rows stay as they are); PostgreSQL holds
writes to the table meanwhile (seconds per million messages), so upgrade while the workers
are stopped. Nothing changes on SQLite.

Revision ID: i14_byte_order
Revises: i14_status_index
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "i14_byte_order"
down_revision = "i14_status_index"
branch_labels = None
depends_on = None

COLUMNS = (("state", 16), ("smsc_id", 32))


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    changes = ", ".join(
        f"ALTER COLUMN {name} TYPE varchar({length}) COLLATE {collation}"
        for name, length in COLUMNS
    )
    op.execute(f"ALTER TABLE messages {changes}")


def upgrade():
    _collate('"C"')


def downgrade():
    _collate('"default"')
