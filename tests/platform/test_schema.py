"""The schema the migrations build is the one models.py declares (tables, columns, indexes, unique
and foreign keys), on both databases: a migration written by hand cannot drift from the models."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models import db


def test_the_migrations_build_what_the_models_declare(app):
    with app.app_context(), db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diffs == []
