"""register of members: members, share ledger, address history, the membership-number counter

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 14:40:20.153630

"""
from alembic import op
import sqlalchemy as sa

import coop.db


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('register_counters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_register_counters'))
    )
    # Membership numbers start at 1 and are handed out by one guarded UPDATE of this row.
    op.execute("INSERT INTO register_counters (name, value) VALUES ('membership_number', 0)")
    op.create_table('register_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('admitted_on', sa.Date(), nullable=False),
    sa.Column('ceased_on', sa.Date(), nullable=True),
    sa.Column('shares_held', sa.Integer(), nullable=False),
    sa.Column('transaction_count', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', coop.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', coop.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ceased_on IS NULL OR ceased_on >= admitted_on', name=op.f('ck_register_members_ceased_after_admitted')),
    sa.CheckConstraint('ceased_on IS NULL OR shares_held = 0', name=op.f('ck_register_members_ceased_holds_nothing')),
    sa.CheckConstraint('length(address) <= 500', name=op.f('ck_register_members_address_length')),
    sa.CheckConstraint('length(email) <= 254', name=op.f('ck_register_members_email_length')),
    sa.CheckConstraint('length(name) <= 200', name=op.f('ck_register_members_name_length')),
    sa.CheckConstraint('number > 0', name=op.f('ck_register_members_number_positive')),
    sa.CheckConstraint('shares_held <= 100000', name=op.f('ck_register_members_shares_legal_max')),
    sa.CheckConstraint('shares_held >= 0', name=op.f('ck_register_members_shares_not_negative')),
    sa.CheckConstraint('transaction_count >= 0', name=op.f('ck_register_members_transaction_count_not_negative')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_register_members_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_members')),
    sa.UniqueConstraint('number', name=op.f('uq_register_members_number')),
    sa.UniqueConstraint('user_id', name=op.f('uq_register_members_user_id'))
    )
    with op.batch_alter_table('register_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_register_members_ceased_on'), ['ceased_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_register_members_email'), ['email'], unique=False)

    op.create_table('register_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('at', coop.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("source IN ('admission', 'staff', 'member')", name=op.f('ck_register_addresses_source_valid')),
    sa.CheckConstraint('length(address) <= 500', name=op.f('ck_register_addresses_address_length')),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], name=op.f('fk_register_addresses_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['member_id'], ['register_members.id'], name=op.f('fk_register_addresses_member_id_register_members'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_addresses'))
    )
    with op.batch_alter_table('register_addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_register_addresses_member_id'), ['member_id'], unique=False)

    op.create_table('register_transactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('shares', sa.Integer(), nullable=False),
    sa.Column('balance_after', sa.Integer(), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('counterpart_id', sa.Integer(), nullable=True),
    sa.Column('enquiry_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', coop.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind IN ('allotment', 'transfer_in') AND shares > 0) OR (kind IN ('withdrawal', 'transfer_out') AND shares < 0)", name=op.f('ck_register_transactions_sign_matches_kind')),
    sa.CheckConstraint("(kind IN ('transfer_out', 'transfer_in')) = (counterpart_id IS NOT NULL)", name=op.f('ck_register_transactions_transfer_has_counterpart')),
    sa.CheckConstraint("kind IN ('allotment', 'withdrawal', 'transfer_out', 'transfer_in')", name=op.f('ck_register_transactions_kind_valid')),
    sa.CheckConstraint('balance_after >= 0', name=op.f('ck_register_transactions_balance_not_negative')),
    sa.CheckConstraint('length(note) <= 500', name=op.f('ck_register_transactions_note_length')),
    sa.CheckConstraint('shares <> 0', name=op.f('ck_register_transactions_shares_not_zero')),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], name=op.f('fk_register_transactions_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['counterpart_id'], ['register_members.id'], name=op.f('fk_register_transactions_counterpart_id_register_members'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['enquiry_id'], ['share_enquiries.id'], name=op.f('fk_register_transactions_enquiry_id_share_enquiries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['member_id'], ['register_members.id'], name=op.f('fk_register_transactions_member_id_register_members'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_transactions'))
    )
    with op.batch_alter_table('register_transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_register_transactions_by_id'), ['by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_register_transactions_counterpart_id'), ['counterpart_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_register_transactions_enquiry_id'), ['enquiry_id'], unique=False)
        batch_op.create_index('ix_register_transactions_member_id_id', ['member_id', 'id'], unique=False)



def downgrade():
    with op.batch_alter_table('register_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_register_transactions_member_id_id')
        batch_op.drop_index(batch_op.f('ix_register_transactions_enquiry_id'))
        batch_op.drop_index(batch_op.f('ix_register_transactions_counterpart_id'))
        batch_op.drop_index(batch_op.f('ix_register_transactions_by_id'))

    op.drop_table('register_transactions')
    with op.batch_alter_table('register_addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_register_addresses_member_id'))

    op.drop_table('register_addresses')
    with op.batch_alter_table('register_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_register_members_email'))
        batch_op.drop_index(batch_op.f('ix_register_members_ceased_on'))

    op.drop_table('register_members')
    op.drop_table('register_counters')
