"""image names: a component's image holds host/repository for a plain reference, whose repository
path alone may have 255 characters (distribution/reference's limit), so the column grows to 512.

Revision ID: c0d1e2f3a4b5
Revises: b9c0d1e2f3a4
Create Date: 2026-12-04 18:05:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'c0d1e2f3a4b5'
down_revision = 'b9c0d1e2f3a4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('components') as batch:
        batch.alter_column('image', type_=sa.String(512), existing_type=sa.String(255), existing_nullable=False)


def downgrade():
    with op.batch_alter_table('components') as batch:
        batch.alter_column('image', type_=sa.String(255), existing_type=sa.String(512), existing_nullable=False)
