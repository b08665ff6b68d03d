"""poll leases remember when their key was last polled: a process does not claim again, in the same
cycle, a key another process polled after it read what is due.

Revision ID: e2f3a4b5c6d7
Revises: d1e2f3a4b5c6
Create Date: 2026-12-05 08:10:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'e2f3a4b5c6d7'
down_revision = 'd1e2f3a4b5c6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('poll_leases') as batch_op:
        batch_op.add_column(sa.Column('polled_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('poll_leases') as batch_op:
        batch_op.drop_column('polled_at')
