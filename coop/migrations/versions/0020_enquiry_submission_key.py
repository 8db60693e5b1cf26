"""shares: share_enquiries.submission_key, so the same form sent twice makes one enquiry

Each share or supporter form drawn carries a random key; the enquiry it makes keeps it, unique.
A double click, or Back and send again, finds that enquiry instead of making a second one with
its own reference and email. Existing enquiries have none.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 04:20:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('share_enquiries') as batch:
        batch.add_column(sa.Column('submission_key', sa.String(length=32), nullable=True))
        batch.create_unique_constraint('uq_share_enquiries_submission_key', ['submission_key'])


def downgrade():
    with op.batch_alter_table('share_enquiries') as batch:
        batch.drop_constraint('uq_share_enquiries_submission_key', type_='unique')
        batch.drop_column('submission_key')
