"""config files: a component mounts files written in Berth (components.files; secret files'
content encrypted), None on existing components: none.

Revision ID: c9d0e1f2a3b4
Revises: b8c9d0e1f2a3
Create Date: 2026-12-04 07:40:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'c9d0e1f2a3b4'
down_revision = 'b8c9d0e1f2a3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('components') as batch:
        batch.add_column(sa.Column('files', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('components') as batch:
        batch.drop_column('files')
