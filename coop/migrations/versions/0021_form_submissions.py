"""forms: form_submissions, so a staff form sent twice records once

Each form that records something (a gift, the day's post, a campaign, an admission to the
register, an event, a message to attendees, a note, a notice) carries a random key; the first
sending claims it in the same transaction as what it records, and any other sending of that
form finds it taken and records nothing (coop/submissions.py). Kept for a week.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 07:30:00

"""
import sqlalchemy as sa
from alembic import op

import coop.db

# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'form_submissions',
        sa.Column('key', sa.String(length=32), nullable=False),
        sa.Column('endpoint', sa.String(length=100), nullable=False),
        sa.Column('location', sa.String(length=500), nullable=False),
        sa.Column('created_at', coop.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_form_submissions')),
    )
    with op.batch_alter_table('form_submissions') as batch:
        batch.create_index(batch.f('ix_form_submissions_created_at'), ['created_at'],
                           unique=False)


def downgrade():
    with op.batch_alter_table('form_submissions') as batch:
        batch.drop_index(batch.f('ix_form_submissions_created_at'))
    op.drop_table('form_submissions')
