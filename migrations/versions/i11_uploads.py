"""Issue 11: uploads: each stored upload's size (the team's quota), and per-list field
statistics (the composer's check without a pass over every contact's fields)

Revision ID: i11_uploads
Revises: i11_worker
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i11_uploads'
down_revision = 'i11_worker'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contact_imports', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('stored_bytes', sa.BigInteger(), server_default='0', nullable=False)
        )
    with op.batch_alter_table('contact_lists', schema=None) as batch_op:
        # NULL for the lists already there: not known, so the check counts them row by row.
        batch_op.add_column(sa.Column('field_stats', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('contact_lists', schema=None) as batch_op:
        batch_op.drop_column('field_stats')
    with op.batch_alter_table('contact_imports', schema=None) as batch_op:
        batch_op.drop_column('stored_bytes')
