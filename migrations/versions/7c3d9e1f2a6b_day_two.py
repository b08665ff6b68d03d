"""day two: release settings snapshots and failure logs, health checks, auto-deploy pause, bad digests

Revision ID: 7c3d9e1f2a6b
Revises: 5b7e2a9c41d0
Create Date: 2026-11-28 09:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '7c3d9e1f2a6b'
down_revision = '5b7e2a9c41d0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('components') as batch_op:
        batch_op.add_column(sa.Column('health', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('paused_reason', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('bad_digests', sa.JSON(), nullable=True))
    op.execute("UPDATE components SET bad_digests = '[]'")
    with op.batch_alter_table('components') as batch_op:
        batch_op.alter_column('bad_digests', existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table('releases') as batch_op:
        batch_op.add_column(sa.Column('settings', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('log_tail', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('releases') as batch_op:
        batch_op.drop_column('log_tail')
        batch_op.drop_column('settings')
    with op.batch_alter_table('components') as batch_op:
        batch_op.drop_column('bad_digests')
        batch_op.drop_column('paused_at')
        batch_op.drop_column('paused_reason')
        batch_op.drop_column('health')
