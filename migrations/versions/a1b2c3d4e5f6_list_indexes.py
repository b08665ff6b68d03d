"""indexes for lists at thousands of rows: a component's newest releases, deliveries and outcomes,
a team's last releases, an endpoint's newest deliveries

Revision ID: a1b2c3d4e5f6
Revises: 9e5f1a3b4c8d
Create Date: 2026-11-28 13:10:00

"""
from alembic import op


revision = 'a1b2c3d4e5f6'
down_revision = '9e5f1a3b4c8d'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_releases_component_id_id', 'releases', ['component_id', 'id']),
    ('ix_releases_team_id_id', 'releases', ['team_id', 'id']),
    ('ix_webhook_deliveries_component_id_id', 'webhook_deliveries', ['component_id', 'id']),
    ('ix_webhook_deliveries_registry_id_id', 'webhook_deliveries', ['registry_id', 'id']),
    ('ix_delivery_outcomes_component_id_id', 'delivery_outcomes', ['component_id', 'id']),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
