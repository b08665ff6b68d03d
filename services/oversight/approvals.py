"""Approvals for auto-deploy: a matching push waits for N team members (or owners) before its
release; approved, exactly that digest deploys. A newer push supersedes an older pending approval;
an approval nobody decided in time expires and deploys nothing. Manual deploys and rollbacks never
wait."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from models import Approval, ApprovalStatus, Component, Membership, Role, User, db, utcnow
from services.components import releases
from services.errors import NotAllowed, ServiceError
from services.oversight import audit, notifications
from services.platform.jobs import unit_of_work
from services.platform.pagination import newest_before


def _fields(approval: Approval) -> dict:
    component = approval.component
    return {"component": component.name, "tag": approval.tag, "digest": approval.digest,
            "approval": approval.id, "approvals": f"{len(approval.approvers)} of {approval.required}",
            "expires_at": approval.expires_at.isoformat(timespec="minutes") + "Z"}


def _link(component: Component) -> str:
    return notifications.external_link("components.detail", component_id=component.id)


def pending(component: Component) -> list[Approval]:
    return list(db.session.scalars(select(Approval).where(
        Approval.component_id == component.id, Approval.status == ApprovalStatus.PENDING).order_by(Approval.id)))


def team_approvals(team_id: int, limit: int = 100) -> list[Approval]:
    return list(db.session.scalars(select(Approval).where(Approval.team_id == team_id)
                                   .order_by(Approval.status != ApprovalStatus.PENDING, Approval.id.desc())
                                   .limit(limit)))


def approvals_before(team_id: int, before: int | None, limit: int, status: str | None = None) -> list[Approval]:
    """The team's approvals newest first, with id below `before` (None: from the newest), in one state
    or all."""
    query = select(Approval).where(Approval.team_id == team_id)
    if status is not None:
        query = query.where(Approval.status == ApprovalStatus(status))
    return newest_before(query, Approval.id, before, limit)


def request(component: Component, tag: str, digest: str, by: str) -> Approval:
    """A pending approval for this push; an older pending one of the component is superseded."""
    now = utcnow()
    for older in pending(component):
        older.status, older.decided_at, older.decided_by = ApprovalStatus.SUPERSEDED, now, by[:255]
        older.note = f"superseded by a newer push ({tag})"
        audit.record(component.team_id, "Berth", "approval.superseded", f"component {component.name}",
                     f"approval #{older.id} for {older.tag} superseded by a push of {tag}")
    approval = Approval(team_id=component.team_id, component=component, tag=tag, digest=digest,
                        required=max(1, component.approvals_required), owners_only=component.approvals_owners_only,
                        approvers=[], requested_by=by[:255], created_at=now,
                        expires_at=now + timedelta(hours=component.approval_hours or 24))
    db.session.add(approval)
    db.session.flush()
    notifications.notify(component.team_id, "approval.requested",
                         f"{component.name}: {tag} waits for approval", _fields(approval), _link(component))
    audit.record(component.team_id, "Berth", "approval.requested", f"component {component.name}",
                 f"approval #{approval.id} for {tag} ({digest[:19]}), {approval.required} needed")
    return approval


def _may_decide(approval: Approval, user: User) -> None:
    if approval.status != ApprovalStatus.PENDING:
        raise ServiceError(f"Approval #{approval.id} is already {approval.status}.")
    if approval.expires_at <= utcnow():
        raise ServiceError(f"Approval #{approval.id} has expired.")
    if approval.owners_only:
        role = db.session.scalar(select(Membership.role).where(Membership.team_id == approval.team_id,
                                                               Membership.user_id == user.id))
        if role != Role.OWNER:
            raise NotAllowed("Only the team's owners may approve this component's deploys.")


def approve(approval: Approval, user: User, actor: str | None = None) -> Approval:
    """Count this person's approval; the last one needed releases exactly the approved digest.
    `actor` names who acted in the audit trail when not the person themselves (their API token)."""
    _may_decide(approval, user)
    if user.email in approval.approvers:
        raise ServiceError("You have already approved this deploy.")
    # Compare-and-set on the count seen: two approvals at once cannot both count as the last.
    seen = approval.approved_count
    taken = db.session.execute(update(Approval).where(Approval.id == approval.id,
                                                      Approval.status == ApprovalStatus.PENDING,
                                                      Approval.approved_count == seen)
                               .values(approved_count=seen + 1).execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise ServiceError("Someone decided on this approval just now; look again.")
    set_committed_value(approval, "approved_count", seen + 1)
    approval.approvers = [*approval.approvers, user.email]
    component = approval.component
    audit.record(approval.team_id, actor or user.email, "approval.approved", f"component {component.name}",
                 f"approval #{approval.id} for {approval.tag}: {len(approval.approvers)} of {approval.required}")
    if len(approval.approvers) >= approval.required:
        approval.status, approval.decided_at, approval.decided_by = ApprovalStatus.APPROVED, utcnow(), user.email
        component.stopped = False
        release = releases.queue_release(component, "approval", f"approved by {', '.join(approval.approvers)}",
                                         tag=approval.tag, digest=approval.digest)
        approval.release_id = release.id
        notifications.notify(approval.team_id, "approval.granted", f"{component.name}: {approval.tag} approved "
                             f"by {user.email}; deploying", {**_fields(approval), "release": release.seq},
                             _link(component))
    db.session.flush()
    return approval


def reject(approval: Approval, user: User, note: str = "", actor: str | None = None) -> Approval:
    _may_decide(approval, user)
    approval.status, approval.decided_at, approval.decided_by = ApprovalStatus.REJECTED, utcnow(), user.email
    approval.note = note[:500] or None
    component = approval.component
    audit.record(approval.team_id, actor or user.email, "approval.rejected", f"component {component.name}",
                 f"approval #{approval.id} for {approval.tag}")
    notifications.notify(approval.team_id, "approval.rejected", f"{component.name}: {approval.tag} rejected by "
                         f"{user.email}", _fields(approval), _link(component))
    db.session.flush()
    return approval


def expire_due() -> int:
    """Pending approvals past their time become expired (recorded, notified once, by whichever
    process wins the compare-and-set); nothing deploys."""
    expired = 0
    due = db.session.scalars(select(Approval.id).where(Approval.status == ApprovalStatus.PENDING,
                                                       Approval.expires_at <= utcnow()).limit(100)).all()
    for approval_id in due:
        with unit_of_work():
            won = db.session.execute(update(Approval).where(
                Approval.id == approval_id, Approval.status == ApprovalStatus.PENDING)
                .values(status=ApprovalStatus.EXPIRED, decided_at=utcnow(), decided_by="Berth")).rowcount == 1
            if not won:
                continue
            approval = db.session.get(Approval, approval_id)
            component = approval.component
            audit.record(approval.team_id, "Berth", "approval.expired", f"component {component.name}",
                         f"approval #{approval.id} for {approval.tag} expired; nothing deployed")
            notifications.notify(approval.team_id, "approval.expired", f"{component.name}: approval for "
                                 f"{approval.tag} expired; nothing was deployed", _fields(approval), _link(component))
            expired += 1
    return expired
