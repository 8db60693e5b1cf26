"""One head: the feature branches (fund, shares, events, newsletter, api) joined, so a plain
``flask --app coop db upgrade`` brings a database up to date.

Revision ID: 0008
Revises: 0002, 0003, 0004, 0005, 0007
Create Date: 2026-11-30 15:18:10

"""

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = ("0002", "0003", "0004", "0005", "0007")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
