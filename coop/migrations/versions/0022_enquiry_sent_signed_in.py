"""shares: share_enquiries.sent_signed_in, whether the reader was logged in when they sent it

The enquiry's history said "from a logged-in member" whenever the enquiry had an account,
but an enquiry sent without logging in is tied to the member's account at admission (and
one sent before there was an account joins it later), so it said so of people who were
never logged in. Existing enquiries take their account as the best reading there is.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 12:20:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('share_enquiries') as batch:
        batch.add_column(sa.Column('sent_signed_in', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.execute("UPDATE share_enquiries SET sent_signed_in = (user_id IS NOT NULL)")


def downgrade():
    with op.batch_alter_table('share_enquiries') as batch:
        batch.drop_column('sent_signed_in')
