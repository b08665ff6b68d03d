"""environments and promotion: a team's environments (upstream, rules, freeze windows) and their
targets, a component's stage per environment (overrides), the rows that run a stage on a target,
promotions, what a stage's release came from; teams get a time zone; component names grow to hold
<component>@<environment>/<target>.

Revision ID: e1f2a3b4c5d6
Revises: d0e1f2a3b4c5
Create Date: 2026-12-04 10:30:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'e1f2a3b4c5d6'
down_revision = 'd0e1f2a3b4c5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('teams') as batch:
        batch.add_column(sa.Column('timezone', sa.String(64), nullable=False, server_default='UTC'))
    op.create_table(
        'environments',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('team_id', sa.Integer(), sa.ForeignKey('teams.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(30), nullable=False),
        sa.Column('upstream_id', sa.Integer(), sa.ForeignKey('environments.id', ondelete='SET NULL'), nullable=True),
        sa.Column('auto_deploy', sa.Boolean(), nullable=False),
        sa.Column('auto_promote', sa.Boolean(), nullable=False),
        sa.Column('approvals_required', sa.Integer(), nullable=False),
        sa.Column('owners_only', sa.Boolean(), nullable=False),
        sa.Column('soak_minutes', sa.Integer(), nullable=False),
        sa.Column('health_rule', sa.String(8), nullable=False),
        sa.Column('on_failure', sa.String(10), nullable=False),
        sa.Column('freeze_windows', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('team_id', 'name'))
    op.create_index('ix_environments_team_id', 'environments', ['team_id'])
    op.create_index('ix_environments_upstream_id', 'environments', ['upstream_id'])
    op.create_table(
        'environment_targets',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('environment_id', sa.Integer(), sa.ForeignKey('environments.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('cluster_id', sa.Integer(), sa.ForeignKey('cluster_targets.id', ondelete='RESTRICT'), nullable=True),
        sa.Column('namespace', sa.String(63), nullable=True))
    op.create_index('ix_environment_targets_environment_id', 'environment_targets', ['environment_id'])
    op.create_index('ix_environment_targets_cluster_id', 'environment_targets', ['cluster_id'])
    op.create_table(
        'component_stages',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('team_id', sa.Integer(), sa.ForeignKey('teams.id', ondelete='CASCADE'), nullable=False),
        sa.Column('component_id', sa.Integer(), sa.ForeignKey('components.id', ondelete='CASCADE'), nullable=False),
        sa.Column('environment_id', sa.Integer(), sa.ForeignKey('environments.id', ondelete='RESTRICT'),
                  nullable=False),
        sa.Column('overrides', sa.JSON(), nullable=False),
        sa.Column('paused_reason', sa.String(300), nullable=True),
        sa.Column('paused_at', sa.DateTime(), nullable=True),
        sa.UniqueConstraint('component_id', 'environment_id'))
    for column in ('team_id', 'component_id', 'environment_id'):
        op.create_index(f'ix_component_stages_{column}', 'component_stages', [column])
    op.create_table(
        'promotions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('team_id', sa.Integer(), sa.ForeignKey('teams.id', ondelete='CASCADE'), nullable=False),
        sa.Column('component_id', sa.Integer(), sa.ForeignKey('components.id', ondelete='CASCADE'), nullable=False),
        sa.Column('environment_id', sa.Integer(), sa.ForeignKey('environments.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('from_environment_id', sa.Integer(), sa.ForeignKey('environments.id', ondelete='SET NULL'),
                  nullable=True),
        sa.Column('source_release_id', sa.Integer(), nullable=True),
        sa.Column('tag', sa.String(128), nullable=False),
        sa.Column('digest', sa.String(100), nullable=False),
        sa.Column('base_settings', sa.JSON(), nullable=False),
        sa.Column('settings_hash', sa.String(64), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('automatic', sa.Boolean(), nullable=False),
        sa.Column('requested_by', sa.String(255), nullable=False),
        sa.Column('required', sa.Integer(), nullable=False),
        sa.Column('approvers', sa.JSON(), nullable=False),
        sa.Column('approved_count', sa.Integer(), nullable=False),
        sa.Column('freeze_override', sa.JSON(), nullable=True),
        sa.Column('gates', sa.JSON(), nullable=False),
        sa.Column('release_ids', sa.JSON(), nullable=False),
        sa.Column('message', sa.String(500), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('last_retry_at', sa.DateTime(), nullable=True))
    for column in ('team_id', 'component_id', 'environment_id', 'status'):
        op.create_index(f'ix_promotions_{column}', 'promotions', [column])
    with op.batch_alter_table('components') as batch:
        batch.alter_column('name', type_=sa.String(200), existing_nullable=False)
        batch.add_column(sa.Column('base_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('env_target_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('runtime_name', sa.String(63), nullable=True))
        batch.add_column(sa.Column('namespace', sa.String(63), nullable=True))
        batch.create_foreign_key('fk_components_base_id', 'components', ['base_id'], ['id'], ondelete='CASCADE')
        batch.create_foreign_key('fk_components_env_target_id', 'environment_targets', ['env_target_id'], ['id'],
                                 ondelete='RESTRICT')
        batch.create_index('ix_components_base_id', ['base_id'])
        batch.create_index('ix_components_env_target_id', ['env_target_id'])
    with op.batch_alter_table('releases') as batch:
        batch.add_column(sa.Column('base_settings', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('promotion_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_releases_promotion_id', 'promotions', ['promotion_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_index('ix_releases_promotion_id', ['promotion_id'])


def downgrade():
    with op.batch_alter_table('releases') as batch:
        batch.drop_index('ix_releases_promotion_id')
        batch.drop_constraint('fk_releases_promotion_id', type_='foreignkey')
        batch.drop_column('promotion_id')
        batch.drop_column('base_settings')
    with op.batch_alter_table('components') as batch:
        batch.drop_index('ix_components_env_target_id')
        batch.drop_index('ix_components_base_id')
        batch.drop_constraint('fk_components_env_target_id', type_='foreignkey')
        batch.drop_constraint('fk_components_base_id', type_='foreignkey')
        for column in ('namespace', 'runtime_name', 'env_target_id', 'base_id'):
            batch.drop_column(column)
        batch.alter_column('name', type_=sa.String(63), existing_nullable=False)
    op.drop_table('promotions')
    op.drop_table('component_stages')
    op.drop_table('environment_targets')
    op.drop_table('environments')
    with op.batch_alter_table('teams') as batch:
        batch.drop_column('timezone')
