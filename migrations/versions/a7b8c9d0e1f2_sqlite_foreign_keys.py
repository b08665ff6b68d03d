"""SQLite now enforces foreign keys (models.py turns them on per connection). Rows an earlier Berth
left behind on SQLite when their parent was deleted (PostgreSQL removed them) go now, as the
parent's ON DELETE says: cascaded rows (and rows that cannot do without the reference) are deleted,
the others' reference is cleared.

Revision ID: a7b8c9d0e1f2
Revises: f6a7b8c9d0e1
Create Date: 2026-12-04 05:30:00

"""
from alembic import op


revision = 'a7b8c9d0e1f2'
down_revision = 'f6a7b8c9d0e1'
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL always enforced them
    for _ in range(50):  # deleting an orphan can orphan its own children: until none is left
        orphans = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if not orphans:
            return
        for table, rowid, _parent, fk_id in orphans:
            keys = {row[0]: row for row in bind.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")')}
            _id, _seq, _parent_table, column, _to, _on_update, on_delete, _match = keys[fk_id]
            required = {row[1] for row in bind.exec_driver_sql(f'PRAGMA table_info("{table}")') if row[3]}
            if on_delete.upper() == "CASCADE" or column in required:
                bind.exec_driver_sql(f'DELETE FROM "{table}" WHERE rowid = ?', (rowid,))
            else:
                bind.exec_driver_sql(f'UPDATE "{table}" SET "{column}" = NULL WHERE rowid = ?', (rowid,))


def downgrade():
    pass  # nothing to put back: the rows pointed at nothing
