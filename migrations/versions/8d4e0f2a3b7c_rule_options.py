"""rule options: required platform, cooldown, and the tag sightings a cooldown counts from

Revision ID: 8d4e0f2a3b7c
Revises: 7c3d9e1f2a6b
Create Date: 2026-11-28 09:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '8d4e0f2a3b7c'
down_revision = '7c3d9e1f2a6b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('components') as batch_op:
        batch_op.add_column(sa.Column('require_platform', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('cooldown_minutes', sa.Integer(), nullable=True))
    op.create_table('tag_sightings',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('component_id', sa.Integer(), nullable=False),
                    sa.Column('tag', sa.String(length=128), nullable=False),
                    sa.Column('digest', sa.String(length=100), nullable=False),
                    sa.Column('first_seen', sa.DateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['component_id'], ['components.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('component_id', 'tag', 'digest', name='uq_tag_sightings'))
    op.create_index('ix_tag_sightings_component_id', 'tag_sightings', ['component_id'])


def downgrade():
    op.drop_index('ix_tag_sightings_component_id', table_name='tag_sightings')
    op.drop_table('tag_sightings')
    with op.batch_alter_table('components') as batch_op:
        batch_op.drop_column('cooldown_minutes')
        batch_op.drop_column('require_platform')
