"""events: duration_seconds beside starts_at and ends_at, indexed

The upcoming listings walked the starts_at index over every event that had already ended
(their cost grew with the years of events behind them). With each event's length stored and
indexed, the longest is one index read, and an event still running began no earlier than now
less that: the walk starts there. The existing rows' lengths are worked out here in Python
(so this step needs a database connection: it can't be written out with ``--sql``).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 02:10:00

"""
import math

import sqlalchemy as sa
from alembic import op

import coop.db


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

events = sa.table(
    'events',
    sa.column('id', sa.Integer),
    sa.column('starts_at', coop.db.UTCDateTime(timezone=True)),
    sa.column('ends_at', coop.db.UTCDateTime(timezone=True)),
    sa.column('duration_seconds', sa.BigInteger),
)


def upgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duration_seconds', sa.BigInteger(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(events.c.id, events.c.starts_at, events.c.ends_at)).all()
    if rows:
        bind.execute(
            events.update().where(events.c.id == sa.bindparam('row_id'))
            .values(duration_seconds=sa.bindparam('seconds')),
            [{'row_id': id_, 'seconds': math.ceil((ends - starts).total_seconds())}
             for id_, starts, ends in rows])
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.alter_column('duration_seconds', existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_check_constraint(batch_op.f('ck_events_duration_positive'), 'duration_seconds > 0')
        batch_op.create_index(batch_op.f('ix_events_duration_seconds'), ['duration_seconds'], unique=False)


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_duration_seconds'))
        batch_op.drop_constraint(batch_op.f('ck_events_duration_positive'), type_='check')
        batch_op.drop_column('duration_seconds')
