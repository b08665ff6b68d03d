"""connections: a component depends on others of its application (components.depends_on, their
ids), None on existing components: none.

Revision ID: d0e1f2a3b4c5
Revises: c9d0e1f2a3b4
Create Date: 2026-12-04 08:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'd0e1f2a3b4c5'
down_revision = 'c9d0e1f2a3b4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('components') as batch:
        batch.add_column(sa.Column('depends_on', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('components') as batch:
        batch.drop_column('depends_on')
