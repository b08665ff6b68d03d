"""cloud registries: a registry's non-secret provider settings (region, account, tenant, API URL,
namespace), the rate limit it last reported, and its polling budget

Revision ID: b7c8d9e0f1a2
Revises: a1b2c3d4e5f6
Create Date: 2026-11-28 16:20:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'b7c8d9e0f1a2'
down_revision = 'a1b2c3d4e5f6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('registries') as batch:
        batch.add_column(sa.Column('options', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('rate_limit', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('poll_budget', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('registries') as batch:
        batch.drop_column('poll_budget')
        batch.drop_column('rate_limit')
        batch.drop_column('options')
