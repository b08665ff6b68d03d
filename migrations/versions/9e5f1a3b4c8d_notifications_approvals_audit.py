"""notification channels and their stored messages, approvals for auto-deploy, the audit trail,
teams' display names

Revision ID: 9e5f1a3b4c8d
Revises: 8d4e0f2a3b7c
Create Date: 2026-11-28 09:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = '9e5f1a3b4c8d'
down_revision = '8d4e0f2a3b7c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('teams') as batch_op:
        batch_op.add_column(sa.Column('display_name', sa.String(length=100), nullable=True))
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('components') as batch_op:
        batch_op.add_column(sa.Column('approvals_required', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('approval_hours', sa.Integer(), nullable=False, server_default='24'))
        batch_op.add_column(sa.Column('approvals_owners_only', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table('notification_channels',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('team_id', sa.Integer(), sa.ForeignKey('teams.id', ondelete='CASCADE'), nullable=False),
                    sa.Column('name', sa.String(63), nullable=False),
                    sa.Column('kind', sa.String(16), nullable=False),
                    sa.Column('url', sa.String(500), nullable=True),
                    sa.Column('email_to', sa.String(500), nullable=True),
                    sa.Column('secret_encrypted', sa.Text(), nullable=True),
                    sa.Column('events', sa.JSON(), nullable=False),
                    sa.Column('enabled', sa.Boolean(), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('team_id', 'name'))
    op.create_index('ix_notification_channels_team_id', 'notification_channels', ['team_id'])
    op.create_table('notifications',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('team_id', sa.Integer(), sa.ForeignKey('teams.id', ondelete='CASCADE'), nullable=False),
                    sa.Column('channel_id', sa.Integer(),
                              sa.ForeignKey('notification_channels.id', ondelete='CASCADE'), nullable=False),
                    sa.Column('uid', sa.String(36), nullable=False),
                    sa.Column('event', sa.String(40), nullable=False),
                    sa.Column('payload', sa.JSON(), nullable=False),
                    sa.Column('status', sa.String(16), nullable=False),
                    sa.Column('attempts', sa.Integer(), nullable=False),
                    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
                    sa.Column('claimed_by', sa.String(100), nullable=True),
                    sa.Column('claimed_at', sa.DateTime(), nullable=True),
                    sa.Column('last_status_code', sa.Integer(), nullable=True),
                    sa.Column('last_latency_ms', sa.Integer(), nullable=True),
                    sa.Column('last_error', sa.String(500), nullable=True),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.Column('sent_at', sa.DateTime(), nullable=True),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('uid'))
    for column in ('team_id', 'channel_id', 'status', 'next_attempt_at'):
        op.create_index(f'ix_notifications_{column}', 'notifications', [column])
    op.create_table('approvals',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('team_id', sa.Integer(), sa.ForeignKey('teams.id', ondelete='CASCADE'), nullable=False),
                    sa.Column('component_id', sa.Integer(), sa.ForeignKey('components.id', ondelete='CASCADE'),
                              nullable=False),
                    sa.Column('tag', sa.String(128), nullable=False),
                    sa.Column('digest', sa.String(100), nullable=False),
                    sa.Column('status', sa.String(16), nullable=False),
                    sa.Column('required', sa.Integer(), nullable=False),
                    sa.Column('owners_only', sa.Boolean(), nullable=False),
                    sa.Column('approvers', sa.JSON(), nullable=False),
                    sa.Column('approved_count', sa.Integer(), nullable=False),
                    sa.Column('requested_by', sa.String(255), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.Column('expires_at', sa.DateTime(), nullable=False),
                    sa.Column('decided_at', sa.DateTime(), nullable=True),
                    sa.Column('decided_by', sa.String(255), nullable=True),
                    sa.Column('note', sa.String(500), nullable=True),
                    sa.Column('release_id', sa.Integer(), sa.ForeignKey('releases.id', ondelete='SET NULL'),
                              nullable=True),
                    sa.PrimaryKeyConstraint('id'))
    for column in ('team_id', 'component_id', 'status'):
        op.create_index(f'ix_approvals_{column}', 'approvals', [column])
    op.create_table('audit_entries',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('team_id', sa.Integer(), sa.ForeignKey('teams.id', ondelete='CASCADE'), nullable=True),
                    sa.Column('actor', sa.String(255), nullable=False),
                    sa.Column('action', sa.String(64), nullable=False),
                    sa.Column('target', sa.String(255), nullable=False),
                    sa.Column('summary', sa.String(1000), nullable=False),
                    sa.Column('at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    for column in ('team_id', 'action', 'at'):
        op.create_index(f'ix_audit_entries_{column}', 'audit_entries', [column])


def downgrade():
    op.drop_table('audit_entries')
    op.drop_table('approvals')
    op.drop_table('notifications')
    op.drop_table('notification_channels')
    with op.batch_alter_table('components') as batch_op:
        batch_op.drop_column('approvals_owners_only')
        batch_op.drop_column('approval_hours')
        batch_op.drop_column('approvals_required')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('active')
    with op.batch_alter_table('teams') as batch_op:
        batch_op.drop_column('display_name')
