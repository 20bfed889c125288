"""Issue 13: locale formats and pickers (reserved for the locale work; empty if it needs nothing)

Revision ID: i13_locale
Revises: i13_language
"""


# revision identifiers, used by Alembic.
revision = "i13_locale"
down_revision = "i13_language"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
