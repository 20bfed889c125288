"""Issue 12: the composer (long texts, placeholders with fallbacks)

A campaign's name and WAP-push link are kept as typed: text columns instead of varchar(200)
and varchar(300), so that the composer reports what is too long rather than cutting it.

Revision ID: i12_composer
Revises: i11_uploads
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i12_composer'
down_revision = 'i11_uploads'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.alter_column(
            "name", existing_type=sa.String(length=200), type_=sa.Text(), existing_nullable=False
        )
        batch_op.alter_column(
            "wapurl", existing_type=sa.String(length=300), type_=sa.Text(), existing_nullable=True
        )


def downgrade():
    # Longer values cannot go back into the narrower columns: they are cut to fit.
    op.execute("UPDATE campaigns SET name = substr(name, 1, 200) WHERE length(name) > 200")
    op.execute("UPDATE campaigns SET wapurl = substr(wapurl, 1, 300) WHERE length(wapurl) > 300")
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.alter_column(
            "name", existing_type=sa.Text(), type_=sa.String(length=200), existing_nullable=False
        )
        batch_op.alter_column(
            "wapurl", existing_type=sa.Text(), type_=sa.String(length=300), existing_nullable=True
        )
