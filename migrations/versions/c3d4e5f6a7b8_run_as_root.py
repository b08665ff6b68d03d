"""pod security: whether a component must run as root (Kubernetes runs the others as non-root,
meeting Pod Security "restricted"). Components that exist already ran as their image said, so they
keep doing so.

Revision ID: c3d4e5f6a7b8
Revises: b7c8d9e0f1a2
Create Date: 2026-12-03 21:10:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'c3d4e5f6a7b8'
down_revision = 'b7c8d9e0f1a2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('components') as batch:
        batch.add_column(sa.Column('run_as_root', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('components') as batch:
        batch.alter_column('run_as_root', server_default=sa.false())


def downgrade():
    with op.batch_alter_table('components') as batch:
        batch.drop_column('run_as_root')
