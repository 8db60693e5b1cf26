"""fund_entries.thanks_check and fund_campaigns.thanks_version: names given online are checked

A reader giving online could put any words on the public fund page, the paper's daily
paragraph and every article page's thanks list, unseen. A name typed online now waits
("waiting") until staff show or decline it; ``thanks_version`` tells every process's thanks
list to read the names again after a decision. Lines already in the ledger keep NULL (thanked
as before): they were shown when they came in.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 17:30:00

"""
import sqlalchemy as sa
from alembic import op

import coop.db

# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('fund_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('thanks_check', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('thanks_decided_at', coop.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('thanks_shown_at', coop.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_fund_entries_thanks_check_valid'),
            "thanks_check IN ('waiting', 'shown', 'declined')")
        batch_op.create_index(batch_op.f('ix_fund_entries_thanks_check'), ['thanks_check'],
                              unique=False)
    with op.batch_alter_table('fund_campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('thanks_version', sa.Integer(), nullable=False,
                                      server_default='0'))


def downgrade():
    with op.batch_alter_table('fund_campaigns', schema=None) as batch_op:
        batch_op.drop_column('thanks_version')
    with op.batch_alter_table('fund_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fund_entries_thanks_check'))
        batch_op.drop_constraint(op.f('ck_fund_entries_thanks_check_valid'), type_='check')
        batch_op.drop_column('thanks_shown_at')
        batch_op.drop_column('thanks_decided_at')
        batch_op.drop_column('thanks_check')
