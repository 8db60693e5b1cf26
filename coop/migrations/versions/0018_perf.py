"""perf: one index for the event listings (time, status and visibility), replacing starts_at's

The listings filter on status, visibility and ends_at and sort by starts_at; with all four in
one index (starts_at first, so it serves everything the old one-column index did) counting and
paging them reads the index alone, not every event's row.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 08:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_listing',
                              ['starts_at', 'ends_at', 'status', 'visibility'], unique=False)
        batch_op.drop_index('ix_events_starts_at')


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_starts_at', ['starts_at'], unique=False)
        batch_op.drop_index('ix_events_listing')
