"""poll leases: replicas share the poll cycle, each watch key (registry + repository) claimed by one
replica at a time until its lease ends.

Revision ID: d1e2f3a4b5c6
Revises: c0d1e2f3a4b5
Create Date: 2026-12-04 21:10:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'd1e2f3a4b5c6'
down_revision = 'c0d1e2f3a4b5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('poll_leases',
                    sa.Column('key', sa.String(600), primary_key=True),
                    sa.Column('holder', sa.String(120), nullable=False),
                    sa.Column('until', sa.DateTime(), nullable=False))
    op.create_index('ix_poll_leases_until', 'poll_leases', ['until'])


def downgrade():
    op.drop_index('ix_poll_leases_until', table_name='poll_leases')
    op.drop_table('poll_leases')
