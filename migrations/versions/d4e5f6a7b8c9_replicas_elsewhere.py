"""field ownership: a component whose replicas an autoscaler or `kubectl scale` sets (Berth leaves
them out of what it applies). Every existing component had Berth set them.

Revision ID: d4e5f6a7b8c9
Revises: c3d4e5f6a7b8
Create Date: 2026-12-04 04:10:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'd4e5f6a7b8c9'
down_revision = 'c3d4e5f6a7b8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('components') as batch:
        batch.add_column(sa.Column('replicas_elsewhere', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('components') as batch:
        batch.drop_column('replicas_elsewhere')
