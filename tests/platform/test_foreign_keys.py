"""The deletes the pages offer leave the same rows on SQLite as on PostgreSQL: SQLite enforces foreign keys and their ON
DELETE actions only on connections that ask (models.py does, on every one), and a migration clears
what an earlier Berth left behind there."""
from __future__ import annotations

import sqlite3

from sqlalchemy import func, insert, select

from models import Application, Component, Registry, Team, User, WebhookDelivery, db
from services.accounts import accounts
from services.components import releases
from services.registries import registries
from tests.scoping import make_team_objects


def orphans() -> dict[str, int]:
    """Rows whose foreign key names a row that does not exist, by table and column (any database)."""
    found = {}
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            child, parent = fk.parent, fk.column
            count = db.session.scalar(select(func.count()).select_from(table).where(
                child.is_not(None), ~select(parent).where(parent == child).exists()))
            if count:
                found[f"{table.name}.{child.name}"] = count
    return found


def test_the_deletes_the_ui_offers_leave_no_orphans(app, make_user):
    """Components, registries and users deleted as the pages do, one of every team object around
    them (tests/scoping.py): no row names a row that is gone, on either database."""
    alpha, beta = make_team_objects(app, make_user, "alpha"), make_team_objects(app, make_user, "beta")
    admin = make_user(email="admin@example.com", team="alpha", admin=True, role="owner")
    make_user(email="member-beta@example.com", team="beta")  # a member with memberships and sessions
    with app.app_context():
        for objects in (alpha, beta):
            releases.delete_component(db.session.get(Component, objects["component_id"]))
            db.session.commit()
            registries.delete_registry(db.session.get(Registry, objects["registry_id"]), "test")
            db.session.commit()
        member = db.session.scalar(select(User).where(User.email == "member-beta@example.com"))
        accounts.delete_user(member, db.session.get(User, admin))
        db.session.commit()
        assert orphans() == {}
        assert db.session.get(Component, alpha["component_id"]) is None
        assert db.session.scalar(select(func.count()).select_from(db.metadata.tables["webhook_deliveries"])
                                 .where(db.metadata.tables["webhook_deliveries"].c.registry_id.is_not(None))) == 0


def test_the_migration_clears_what_sqlite_kept_before(tmp_path):
    """An SQLite database written without foreign keys, with a delivery and a component whose registry
    is gone: upgraded, the delivery (ON DELETE CASCADE) is gone and the component kept, its registry
    reference cleared (ON DELETE RESTRICT, a nullable column)."""
    from flask_migrate import downgrade, upgrade

    from app import create_app
    from tests.helpers import test_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    app = create_app(test_config(url))
    with app.app_context():
        upgrade(revision="f6a7b8c9d0e1")
        db.engine.dispose()
    with app.app_context():
        # Core inserts name only the columns the schema had then (the models have more since).
        def add(model, **values):
            return db.session.execute(insert(model).values(**values)).inserted_primary_key[0]
        team_id = add(Team, name="alpha")
        rid = add(Registry, team_id=team_id, kind="registry", name="gone", url="https://registry.example.com")
        cid = add(Component, team_id=team_id, application_id=add(Application, team_id=team_id, name="shop"),
                  registry_id=rid, name="web", image="team/web", tag="v1", env=[], ports=[])
        add(WebhookDelivery, team_id=team_id, registry_id=rid, source="test", body="{}")
        db.session.commit()
        db.engine.dispose()
    raw = sqlite3.connect(tmp_path / "old.db")  # as an earlier Berth deleted: foreign keys off
    raw.execute("DELETE FROM registries")
    raw.commit()
    raw.close()
    with app.app_context():
        upgrade()
        assert orphans() == {}
        assert db.session.get(Component, cid).registry_id is None
        assert db.session.scalar(select(func.count()).select_from(db.metadata.tables["webhook_deliveries"])) == 0
        downgrade(revision="f6a7b8c9d0e1")  # and back: nothing to put back, nothing breaks
        db.engine.dispose()
