"""trust: a team's public keys and root CA certificates and its signature policies, verdicts cached per policy and digest, the
policy a component deploys under, and a release's owner override of a refusal.

Revision ID: f7a8b9c0d1e2
Revises: e1f2a3b4c5d6
Create Date: 2026-12-04 15:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'f7a8b9c0d1e2'
down_revision = 'e1f2a3b4c5d6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'trust_keys',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('team_id', sa.Integer(), sa.ForeignKey('teams.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(63), nullable=False),
        sa.Column('kind', sa.String(8), nullable=False),
        sa.Column('pem', sa.Text(), nullable=False),
        sa.Column('fingerprint', sa.String(71), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('team_id', 'name'),
        sa.UniqueConstraint('team_id', 'fingerprint'))
    op.create_index('ix_trust_keys_team_id', 'trust_keys', ['team_id'])
    op.create_table(
        'trust_policies',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('team_id', sa.Integer(), sa.ForeignKey('teams.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(63), nullable=False),
        sa.Column('key_ids', sa.JSON(), nullable=False),
        sa.Column('threshold', sa.Integer(), nullable=False),
        sa.Column('attestations', sa.JSON(), nullable=False),
        sa.Column('subject_pattern', sa.String(255), nullable=False),
        sa.Column('issuer_pattern', sa.String(255), nullable=False),
        sa.Column('rule_hash', sa.String(64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('team_id', 'name'))
    op.create_index('ix_trust_policies_team_id', 'trust_policies', ['team_id'])
    op.create_table(
        'trust_verdicts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('policy_id', sa.Integer(), sa.ForeignKey('trust_policies.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('digest', sa.String(100), nullable=False),
        sa.Column('policy_hash', sa.String(64), nullable=False),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.String(1000), nullable=False),
        sa.Column('signatures', sa.String(160), nullable=True),
        sa.Column('checked_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('policy_id', 'digest'))
    with op.batch_alter_table('components') as batch:
        batch.add_column(sa.Column('trust_policy_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_components_trust_policy_id', 'trust_policies', ['trust_policy_id'], ['id'],
                                 ondelete='RESTRICT')
        batch.create_index('ix_components_trust_policy_id', ['trust_policy_id'])
    with op.batch_alter_table('releases') as batch:
        batch.add_column(sa.Column('trust_override', sa.String(300), nullable=True))


def downgrade():
    with op.batch_alter_table('releases') as batch:
        batch.drop_column('trust_override')
    with op.batch_alter_table('components') as batch:
        batch.drop_index('ix_components_trust_policy_id')
        batch.drop_constraint('fk_components_trust_policy_id', type_='foreignkey')
        batch.drop_column('trust_policy_id')
    op.drop_table('trust_verdicts')
    op.drop_index('ix_trust_policies_team_id', 'trust_policies')
    op.drop_table('trust_policies')
    op.drop_index('ix_trust_keys_team_id', 'trust_keys')
    op.drop_table('trust_keys')
