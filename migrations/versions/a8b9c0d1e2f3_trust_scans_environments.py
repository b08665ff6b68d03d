"""trust: a policy may require a Harbor vulnerability scan below a severity (waiting for a scan it
starts at most scan_wait_seconds), and an environment may name a policy every digest deployed there
must also pass.

Revision ID: a8b9c0d1e2f3
Revises: f7a8b9c0d1e2
Create Date: 2026-12-04 17:10:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'a8b9c0d1e2f3'
down_revision = 'f7a8b9c0d1e2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('trust_policies') as batch:
        batch.add_column(sa.Column('scan_below', sa.String(16), nullable=False, server_default=''))
        batch.add_column(sa.Column('scan_wait_seconds', sa.Integer(), nullable=False, server_default='120'))
    with op.batch_alter_table('environments') as batch:
        batch.add_column(sa.Column('trust_policy_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_environments_trust_policy_id', 'trust_policies', ['trust_policy_id'], ['id'],
                                 ondelete='RESTRICT')
        batch.create_index('ix_environments_trust_policy_id', ['trust_policy_id'])


def downgrade():
    with op.batch_alter_table('environments') as batch:
        batch.drop_index('ix_environments_trust_policy_id')
        batch.drop_constraint('fk_environments_trust_policy_id', type_='foreignkey')
        batch.drop_column('trust_policy_id')
    with op.batch_alter_table('trust_policies') as batch:
        batch.drop_column('scan_wait_seconds')
        batch.drop_column('scan_below')
