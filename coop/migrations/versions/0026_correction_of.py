"""fund_entries.corrects_id: a correction names the ledger line it puts right

A correction made with "Correct" on a ledger line only said so in its reason text ("Correcting
entry 228: "), which staff could send unchanged, and nothing stopped the same gift being
reversed twice: the form offered the full reversal again, and the line never showed that it
had been corrected. The correction now names the line, the ledger shows "Corrected by entry N"
beside it, and the form says what earlier corrections of it already add up to. Corrections
made before this name no line.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 20:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('fund_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrects_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_fund_entries_corrects_id_fund_entries'),
                                    'fund_entries', ['corrects_id'], ['id'],
                                    ondelete='RESTRICT')
        batch_op.create_index(op.f('ix_fund_entries_corrects_id'), ['corrects_id'])


def downgrade():
    with op.batch_alter_table('fund_entries', schema=None) as batch_op:
        batch_op.drop_index(op.f('ix_fund_entries_corrects_id'))
        batch_op.drop_constraint(op.f('fk_fund_entries_corrects_id_fund_entries'),
                                 type_='foreignkey')
        batch_op.drop_column('corrects_id')
