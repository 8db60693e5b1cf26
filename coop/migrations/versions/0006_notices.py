"""notices

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:45:00

"""
from alembic import op
import sqlalchemy as sa

import coop.db


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('link_url', sa.String(length=500), nullable=False),
    sa.Column('link_text', sa.String(length=100), nullable=False),
    sa.Column('starts_at', coop.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', coop.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', coop.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', coop.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("level IN ('info', 'warning')", name=op.f('ck_notices_level_valid')),
    sa.CheckConstraint('ends_at IS NULL OR ends_at > starts_at', name=op.f('ck_notices_ends_after_start')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_notices_version_positive')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_notices_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_notices_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices'))
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_ends_at'), ['ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_starts_at'), ['starts_at'], unique=False)


def downgrade():
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_starts_at'))
        batch_op.drop_index(batch_op.f('ix_notices_ends_at'))

    op.drop_table('notices')
