"""register_members.name_folded and share_enquiries.name_folded: names as searches compare them

"Ni Bhriain" found nothing in the register or the enquiry inbox, where "Ní Bhriain" did:
neither database folds accents in LIKE, and SQLite folds only ASCII case. Each table keeps
its names folded (accents off, case folded: coop.formatting.folded) beside them, set by the
models on every write; this fills it for the rows already there.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 15:10:00

"""
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

TABLES = ('register_members', 'share_enquiries')


def folded(text):
    """coop.formatting.folded as it was when this ran (a migration doesn't follow the app)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c))
                    .casefold().split())


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('name_folded', sa.String(200), nullable=False,
                                       server_default=''))
        rows = sa.table(table, sa.column('id', sa.Integer), sa.column('name', sa.String),
                        sa.column('name_folded', sa.String))
        connection = op.get_bind()
        for row_id, name in connection.execute(sa.select(rows.c.id, rows.c.name)).all():
            connection.execute(sa.update(rows).where(rows.c.id == row_id)
                               .values(name_folded=folded(name)[:200]))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('name_folded')
