"""event_messages.audience: staff message the waiting list too

Staff could only message the people with a place: a changed room or time reached nobody on
the waiting list, who may yet get a place. A message now goes to those with a place, those
waiting, or both, and the page's list of messages sent says which. Messages already sent went
to the people with a place.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 17:45:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('event_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.String(length=10), nullable=False,
                                      server_default='places'))
        batch_op.create_check_constraint(
            op.f('ck_event_messages_audience_valid'),
            "audience IN ('places', 'waiting', 'both')")


def downgrade():
    with op.batch_alter_table('event_messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_event_messages_audience_valid'), type_='check')
        batch_op.drop_column('audience')
