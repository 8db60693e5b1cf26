"""enquiry workflow: payment received, admitted, withdrawn, reopening with a reason

Revision ID: 0016
Revises: 0011
Create Date: 2026-12-01 15:00:00

Existing rows: a *share* enquiry marked "completed" becomes "admitted" (that is what staff
meant: the shares were bought), with no membership number, since the register of members
was not kept on the site then; a history line says so, and staff may reopen it to admit it
through the register. A supporter's "completed" stays "completed" (set up).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0011'
branch_labels = None
depends_on = None

NEW_STATUSES = ("new", "contacted", "payment_received", "admitted", "completed", "declined",
                "withdrawn")
OLD_STATUSES = ("new", "contacted", "completed", "declined")
MIGRATED = ("marked completed before admissions were recorded on the site: no membership "
            "number; reopen to admit through the register")


def _in(values) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    with op.batch_alter_table('share_enquiries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_share_enquiries_status_valid'), type_='check')
        batch_op.alter_column('status', existing_type=sa.String(length=10),
                              type_=sa.String(length=20), existing_nullable=False)
        batch_op.add_column(sa.Column('paid_pence', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('paid_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('paid_method', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('membership_number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('allotment_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_share_enquiries_membership_number'),
                              ['membership_number'], unique=False)
        batch_op.create_check_constraint(
            op.f('ck_share_enquiries_status_valid'), _in(NEW_STATUSES))
        batch_op.create_check_constraint(
            op.f('ck_share_enquiries_paid_positive'), 'paid_pence IS NULL OR paid_pence > 0')
        batch_op.create_check_constraint(
            op.f('ck_share_enquiries_shares_paid_whole_pounds'),
            "kind <> 'shares' OR paid_pence IS NULL OR paid_pence % 100 = 0")
        batch_op.create_check_constraint(
            op.f('ck_share_enquiries_paid_method_valid'),
            "paid_method IS NULL OR paid_method IN ('bank_transfer', 'cheque', 'cash', 'online')")
        batch_op.create_check_constraint(
            op.f('ck_share_enquiries_payment_complete'),
            "(paid_pence IS NULL) = (paid_on IS NULL) AND "
            "(paid_pence IS NULL) = (paid_method IS NULL)")
        batch_op.create_check_constraint(
            op.f('ck_share_enquiries_only_shares_admitted'), "kind = 'shares' OR membership_number IS NULL")

    with op.batch_alter_table('share_enquiry_changes', schema=None) as batch_op:
        batch_op.alter_column('old_status', existing_type=sa.String(length=10),
                              type_=sa.String(length=20), existing_nullable=False)
        batch_op.alter_column('new_status', existing_type=sa.String(length=10),
                              type_=sa.String(length=20), existing_nullable=False)
        batch_op.add_column(sa.Column('detail', sa.String(length=500), nullable=False,
                                      server_default=''))
        batch_op.create_check_constraint(
            op.f('ck_share_enquiry_changes_detail_length'), 'length(detail) <= 500')
    with op.batch_alter_table('share_enquiry_changes', schema=None) as batch_op:
        batch_op.alter_column('detail', server_default=None, existing_type=sa.String(length=500),
                              existing_nullable=False)

    # Completed share enquiries: admitted, with a history line saying how they got there.
    conn = op.get_bind()
    conn.execute(sa.text(
        "INSERT INTO share_enquiry_changes (enquiry_id, at, by_id, old_status, new_status, "
        "detail) SELECT id, COALESCE(closed_at, updated_at), NULL, 'completed', 'admitted', "
        ":detail FROM share_enquiries WHERE kind = 'shares' AND status = 'completed'"
    ), {"detail": MIGRATED})
    conn.execute(sa.text(
        "UPDATE share_enquiries SET status = 'admitted' "
        "WHERE kind = 'shares' AND status = 'completed'"))


def downgrade():
    conn = op.get_bind()
    # Back to the four statuses: the closing ones become completed/declined, the rest contacted.
    conn.execute(sa.text("DELETE FROM share_enquiry_changes WHERE old_status = 'completed' "
                         "AND new_status = 'admitted' AND by_id IS NULL AND detail = :detail"),
                 {"detail": MIGRATED})
    conn.execute(sa.text("UPDATE share_enquiries SET status = 'completed' "
                         "WHERE status = 'admitted'"))
    conn.execute(sa.text("UPDATE share_enquiries SET status = 'declined' "
                         "WHERE status = 'withdrawn'"))
    conn.execute(sa.text("UPDATE share_enquiries SET status = 'contacted' "
                         "WHERE status = 'payment_received'"))
    for old, new in (('admitted', 'completed'), ('withdrawn', 'declined'),
                     ('payment_received', 'contacted')):
        conn.execute(sa.text("UPDATE share_enquiry_changes SET old_status = :new "
                             "WHERE old_status = :old"), {"old": old, "new": new})
        conn.execute(sa.text("UPDATE share_enquiry_changes SET new_status = :new "
                             "WHERE new_status = :old"), {"old": old, "new": new})

    with op.batch_alter_table('share_enquiry_changes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_share_enquiry_changes_detail_length'), type_='check')
        batch_op.drop_column('detail')
        batch_op.alter_column('new_status', existing_type=sa.String(length=20),
                              type_=sa.String(length=10), existing_nullable=False)
        batch_op.alter_column('old_status', existing_type=sa.String(length=20),
                              type_=sa.String(length=10), existing_nullable=False)

    with op.batch_alter_table('share_enquiries', schema=None) as batch_op:
        for name in ('only_shares_admitted', 'payment_complete', 'paid_method_valid',
                     'shares_paid_whole_pounds', 'paid_positive', 'status_valid'):
            batch_op.drop_constraint(op.f(f'ck_share_enquiries_{name}'), type_='check')
        batch_op.drop_index(batch_op.f('ix_share_enquiries_membership_number'))
        batch_op.drop_column('allotment_id')
        batch_op.drop_column('membership_number')
        batch_op.drop_column('paid_method')
        batch_op.drop_column('paid_on')
        batch_op.drop_column('paid_pence')
        batch_op.alter_column('status', existing_type=sa.String(length=20),
                              type_=sa.String(length=10), existing_nullable=False)
        batch_op.create_check_constraint(
            op.f('ck_share_enquiries_status_valid'), _in(OLD_STATUSES))
