"""release numbers (at most one release per decision, by the schema), authenticated deliveries,
session versions, login failures and registries' confirmed token hosts

Revision ID: 5b7e2a9c41d0
Revises: d56c72cc1b99
Create Date: 2026-11-28 06:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '5b7e2a9c41d0'
down_revision = 'd56c72cc1b99'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('components') as batch_op:
        batch_op.add_column(sa.Column('release_seq', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('releases') as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
    # Number the releases already there in the order they were made.
    op.execute("UPDATE releases SET seq = (SELECT count(*) FROM releases AS earlier "
               "WHERE earlier.component_id = releases.component_id AND earlier.id <= releases.id)")
    op.execute("UPDATE components SET release_seq = (SELECT count(*) FROM releases "
               "WHERE releases.component_id = components.id)")
    with op.batch_alter_table('releases') as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint('uq_releases_component_id_seq', ['component_id', 'seq'])
    with op.batch_alter_table('webhook_deliveries') as batch_op:
        batch_op.add_column(sa.Column('authenticated', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('registries') as batch_op:
        batch_op.add_column(sa.Column('token_host', sa.String(length=253), nullable=True))
    op.create_table('login_failures',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('email', sa.String(length=254), nullable=False),
                    sa.Column('address', sa.String(length=64), nullable=False),
                    sa.Column('at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    for column in ('email', 'address', 'at'):
        op.create_index(f'ix_login_failures_{column}', 'login_failures', [column])


def downgrade():
    op.drop_table('login_failures')
    with op.batch_alter_table('registries') as batch_op:
        batch_op.drop_column('token_host')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('session_version')
    with op.batch_alter_table('webhook_deliveries') as batch_op:
        batch_op.drop_column('authenticated')
    with op.batch_alter_table('releases') as batch_op:
        batch_op.drop_constraint('uq_releases_component_id_seq', type_='unique')
        batch_op.drop_column('seq')
    with op.batch_alter_table('components') as batch_op:
        batch_op.drop_column('release_seq')
