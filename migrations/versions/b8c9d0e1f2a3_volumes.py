"""volumes: a component mounts named persistent volumes (components.volumes), each one of the
team's `volumes` rows, which outlive the components.

Revision ID: b8c9d0e1f2a3
Revises: a7b8c9d0e1f2
Create Date: 2026-12-04 07:20:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'b8c9d0e1f2a3'
down_revision = 'a7b8c9d0e1f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'volumes',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('team_id', sa.Integer(), sa.ForeignKey('teams.id', ondelete='CASCADE'), nullable=False),
        sa.Column('application_id', sa.Integer(), sa.ForeignKey('applications.id', ondelete='RESTRICT'),
                  nullable=False),
        sa.Column('target_id', sa.Integer(), sa.ForeignKey('cluster_targets.id', ondelete='RESTRICT'), nullable=True),
        sa.Column('name', sa.String(length=63), nullable=False),
        sa.Column('size_mb', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('team_id', 'name'),
    )
    with op.batch_alter_table('volumes') as batch:
        batch.create_index('ix_volumes_team_id', ['team_id'])
        batch.create_index('ix_volumes_application_id', ['application_id'])
        batch.create_index('ix_volumes_target_id', ['target_id'])
    with op.batch_alter_table('components') as batch:
        batch.add_column(sa.Column('volumes', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('components') as batch:
        batch.drop_column('volumes')
    op.drop_table('volumes')
