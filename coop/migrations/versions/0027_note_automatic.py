"""share_enquiry_notes.automatic: a note the website wrote, told apart from a deleted author's

Staff saw "Someone" above two kinds of note: those the website writes itself (a payment
received online, a refund, "paid twice", an account deleted) and those whose author's
account has since been deleted. The first now read "The website", the second "A former
member of staff". Notes written before this with no author are taken to be the website's:
nothing is deployed yet, and until now only the website wrote notes without one.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 23:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('share_enquiry_notes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('automatic', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    notes = sa.table('share_enquiry_notes', sa.column('by_id', sa.Integer),
                     sa.column('automatic', sa.Boolean))
    op.execute(notes.update().where(notes.c.by_id.is_(None)).values(automatic=True))


def downgrade():
    with op.batch_alter_table('share_enquiry_notes', schema=None) as batch_op:
        batch_op.drop_column('automatic')
