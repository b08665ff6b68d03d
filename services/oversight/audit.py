"""The audit trail: one entry per change, with who made it. Entries name what changed, never a
secret value (passwords, tokens, webhook and channel secrets stay out by construction: callers
pass names and numbers, not form data)."""
from __future__ import annotations

from sqlalchemy import select

from models import AuditEntry, db
from services.platform.pagination import Page, paginate


def record(team_id: int | None, actor: str, action: str, target: str, summary: str = "") -> AuditEntry:
    entry = AuditEntry(team_id=team_id, actor=(actor or "?")[:255], action=action[:64], target=target[:255],
                       summary=summary[:1000])
    db.session.add(entry)
    return entry


def page(team_id: int, page: int = 1, action: str = "") -> Page:
    """One page of the team's entries, newest first, and how many there are."""
    query = select(AuditEntry).where(AuditEntry.team_id == team_id)
    if action:
        query = query.where(AuditEntry.action == action)
    return paginate(query.order_by(AuditEntry.id.desc()), page, action=action)
