"""Issue 12: message templates and test sends

Revision ID: i12_templates
Revises: i12_composer
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i12_templates'
down_revision = 'i12_composer'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('test_of', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_campaigns_test_of'), ['test_of'], unique=False)
        batch_op.create_foreign_key(
            'fk_campaigns_test_of', 'campaigns', ['test_of'], ['id'], ondelete='SET NULL'
        )


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_constraint('fk_campaigns_test_of', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_campaigns_test_of'))
        batch_op.drop_column('test_of')
