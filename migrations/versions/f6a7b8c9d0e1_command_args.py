"""command and arguments: a component may run another entrypoint or arguments than its image's
(None: the image's own, as every existing component does).

Revision ID: f6a7b8c9d0e1
Revises: e5f6a7b8c9d0
Create Date: 2026-12-04 05:10:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'f6a7b8c9d0e1'
down_revision = 'e5f6a7b8c9d0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('components') as batch:
        batch.add_column(sa.Column('command', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('args', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('components') as batch:
        batch.drop_column('args')
        batch.drop_column('command')
