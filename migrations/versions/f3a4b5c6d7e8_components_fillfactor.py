"""components leave room on each page (PostgreSQL fillfactor 70): a poll writes every watched
component's last_polled_at each cycle, and with room beside the row PostgreSQL updates it in place
(a HOT update) instead of writing a new version into each of the table's ten indexes. Pages
written from now on keep the room; existing ones gain it when the table is rewritten (VACUUM FULL).
SQLite has no such setting.

Revision ID: f3a4b5c6d7e8
Revises: e2f3a4b5c6d7
Create Date: 2026-12-05 08:25:00

"""
from alembic import op


revision = 'f3a4b5c6d7e8'
down_revision = 'e2f3a4b5c6d7'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE components SET (fillfactor = 70)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE components RESET (fillfactor)")
