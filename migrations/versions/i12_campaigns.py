"""Issue 12: campaigns (resend once, draft versions, list)

- ``campaigns.resend_of`` becomes unique: a campaign is resent at most once (its resend's
  failed messages are resent from the resend). Before, a cancelled resend draft let a second
  one be made; those cancelled drafts (never sent, no messages) give up their link first, and
  of any other resends of one campaign the first keeps it.
- ``campaigns.revision``: a draft's revision, moved on by each save of the composer, and
  ``revision_tab``, the composer page that saved it.
- ``ix_campaigns_team_id_id``: the campaigns list's keyset pages.

Revision ID: i12_campaigns
Revises: i12_templates
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i12_campaigns'
down_revision = 'i12_templates'
branch_labels = None
depends_on = None


def upgrade():
    campaigns = sa.table(
        'campaigns',
        sa.column('id', sa.Integer),
        sa.column('state', sa.String),
        sa.column('scheduled_at', sa.DateTime),
        sa.column('resend_of', sa.Integer),
    )
    # Resend drafts cancelled before they were ever sent: nothing of them was sent.
    op.execute(
        campaigns.update()
        .where(
            campaigns.c.resend_of.is_not(None),
            campaigns.c.state == 'cancelled',
            campaigns.c.scheduled_at.is_(None),
        )
        .values(resend_of=None)
    )
    # Any other second resend of one campaign: the first one keeps the link.
    first = sa.alias(campaigns, 'first')
    earlier = (
        sa.select(first.c.id)
        .where(first.c.resend_of == campaigns.c.resend_of, first.c.id < campaigns.c.id)
        .exists()
    )
    op.execute(
        campaigns.update().where(campaigns.c.resend_of.is_not(None), earlier).values(resend_of=None)
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('revision', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.add_column(
            sa.Column('revision_tab', sa.String(length=32), server_default='', nullable=False)
        )
        batch_op.create_unique_constraint(batch_op.f('uq_campaigns_resend_of'), ['resend_of'])
        batch_op.create_index('ix_campaigns_team_id_id', ['team_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index('ix_campaigns_team_id_id')
        batch_op.drop_constraint(batch_op.f('uq_campaigns_resend_of'), type_='unique')
        batch_op.drop_column('revision_tab')
        batch_op.drop_column('revision')
