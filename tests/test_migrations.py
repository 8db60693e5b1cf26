"""The schema comes from the migrations, and they agree with the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from coop.db import Base


def test_models_and_migrations_agree(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_every_table_is_created_by_migrations(db):
    inspector = sa.inspect(db.engine)
    tables = set(inspector.get_table_names())
    assert "alembic_version" in tables
    assert set(Base.metadata.tables) <= tables


def test_constraints_are_named(db):
    for table in Base.metadata.sorted_tables:
        for constraint in table.constraints:
            assert constraint.name, f"unnamed constraint on {table.name}"


def test_one_head_so_a_plain_upgrade_works():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from coop import ROOT

    config = Config()
    config.set_main_option("script_location", str(ROOT / "coop" / "migrations"))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
