"""several Kubernetes clusters: a team's cluster targets (server, CA, encrypted token) and the one a
component runs on (none: this Berth's own deployer, as before).

Revision ID: e5f6a7b8c9d0
Revises: d4e5f6a7b8c9
Create Date: 2026-12-04 04:45:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'e5f6a7b8c9d0'
down_revision = 'd4e5f6a7b8c9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'cluster_targets',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('team_id', sa.Integer(), sa.ForeignKey('teams.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(63), nullable=False),
        sa.Column('server', sa.String(500), nullable=False),
        sa.Column('ca_pem', sa.Text(), nullable=True),
        sa.Column('token_encrypted', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('last_checked_at', sa.DateTime(), nullable=True),
        sa.Column('last_check_ok', sa.Boolean(), nullable=True),
        sa.Column('last_check_message', sa.String(1000), nullable=True),
        sa.UniqueConstraint('team_id', 'name'))
    op.create_index('ix_cluster_targets_team_id', 'cluster_targets', ['team_id'])
    with op.batch_alter_table('components') as batch:
        batch.add_column(sa.Column('target_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_components_target_id', 'cluster_targets', ['target_id'], ['id'],
                                 ondelete='RESTRICT')
        batch.create_index('ix_components_target_id', ['target_id'])


def downgrade():
    with op.batch_alter_table('components') as batch:
        batch.drop_index('ix_components_target_id')
        batch.drop_constraint('fk_components_target_id', type_='foreignkey')
        batch.drop_column('target_id')
    op.drop_index('ix_cluster_targets_team_id', 'cluster_targets')
    op.drop_table('cluster_targets')
