"""Lists that stay fast at thousands of rows: one page (50 rows) and its count, two statements
whatever the table holds; plus the team's lists and the dashboard, each read in a fixed number of
statements (the row's related objects come with it, never one query per row)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.orm import contains_eager, joinedload

from models import (
    Application,
    Component,
    DeliveryOutcome,
    EnvironmentTarget,
    Registry,
    Release,
    ReleaseStatus,
    WebhookDelivery,
    db,
)
from services.platform.pagination import PER_PAGE, Page, newest_before, paginate

# What the list and the dashboard call a component's state: its latest release's status, or
# "stopped"; a release waiting for a worker counts as deploying.
STATES = ("running", "deploying", "failed", "stopped", "never deployed")


# -- components ---------------------------------------------------------------------------------
def _latest_release_id():
    return (select(func.max(Release.id)).where(Release.component_id == Component.id)
            .correlate(Component).scalar_subquery())


def _state():
    """SQL for STATES, over Component outer-joined with its latest Release."""
    return case((Component.stopped, literal("stopped")),
                (Release.id.is_(None), literal("never deployed")),
                (Release.status.in_((ReleaseStatus.PENDING, ReleaseStatus.DEPLOYING)), literal("deploying")),
                else_=Release.status)


@dataclass
class ComponentRow:
    component: Component
    latest: Release | None


def components(team_id: int, page: int = 1, name: str = "", application: str = "", state: str = "") -> Page:
    """The team's components with their latest release, by name; filtered by name (contains),
    application (name) and state."""
    query = (select(Component, Release).outerjoin(Release, Release.id == _latest_release_id())
             .join(Component.application).options(contains_eager(Component.application))
             .where(Component.team_id == team_id, Component.base_id.is_(None)).order_by(Component.name))
    if name:
        query = query.where(Component.name.contains(name.lower(), autoescape=True))
    if application:
        query = query.where(Application.name == application)
    if state in STATES:
        query = query.where(_state() == state)
    result = paginate(query, page, scalars=False, name=name, application=application,
                      state=state if state in STATES else "")
    result.items = [ComponentRow(c, r) for c, r in result.items]
    return result


def components_after(team_id: int, after: int, limit: int, application: str = "") -> list[ComponentRow]:
    """The team's components (environment rows too) with id above `after`, by id, at most `limit`
    (the API's cursor pages): each with its latest release, in one query."""
    query = (select(Component, Release).outerjoin(Release, Release.id == _latest_release_id())
             .join(Component.application).options(contains_eager(Component.application))
             .options(joinedload(Component.env_target).joinedload(EnvironmentTarget.environment))
             .where(Component.team_id == team_id, Component.id > after).order_by(Component.id).limit(limit))
    if application:
        query = query.where(Application.name == application)
    return [ComponentRow(c, r) for c, r in db.session.execute(query)]


def releases_after(component_id: int, before: int | None, limit: int) -> list[Release]:
    """A component's releases newest first, with id below `before` (None: from the newest)."""
    return newest_before(select(Release).where(Release.component_id == component_id), Release.id, before, limit)


def outcomes_before(team_id: int, before: int | None, limit: int) -> list[DeliveryOutcome]:
    """The team's delivery outcomes newest first, with id below `before` (None: from the newest)."""
    return newest_before(select(DeliveryOutcome).where(DeliveryOutcome.team_id == team_id), DeliveryOutcome.id,
                         before, limit)


def application_names(team_id: int) -> list[str]:
    return list(db.session.scalars(select(Application.name).where(Application.team_id == team_id)
                                   .order_by(Application.name)))


# -- registries ---------------------------------------------------------------------------------
def registries(team_id: int, page: int = 1, name: str = "") -> Page:
    query = select(Registry).where(Registry.team_id == team_id).order_by(Registry.name)
    if name:
        query = query.where(or_(Registry.name.contains(name, autoescape=True),
                                Registry.url.contains(name, autoescape=True)))
    return paginate(query, page, name=name)


# -- releases and deliveries of one component (or one registry's endpoint) -----------------------
def releases(component_id: int, page: int = 1, status: str = "") -> Page:
    query = select(Release).where(Release.component_id == component_id).order_by(Release.id.desc())
    if status in set(ReleaseStatus):
        query = query.where(Release.status == status)
    return paginate(query, page, status=status if status in set(ReleaseStatus) else "")


OUTCOMES = ("deployed", "ignored")


def outcomes(page: int = 1, *, component_id: int | None = None, registry_id: int | None = None,
             outcome: str = "", repository: str = "", per_page: int = PER_PAGE) -> Page:
    """What deliveries meant, newest first, with their delivery (one join, no query per row)."""
    conditions = []
    if component_id is not None:
        conditions.append(DeliveryOutcome.component_id == component_id)
    if registry_id is not None:
        conditions.append(WebhookDelivery.registry_id == registry_id)
    if outcome in OUTCOMES:
        conditions.append(DeliveryOutcome.outcome == outcome)
    if repository:
        conditions.append(DeliveryOutcome.repository.contains(repository.lower(), autoescape=True))
    query = (select(DeliveryOutcome).join(DeliveryOutcome.delivery).options(contains_eager(DeliveryOutcome.delivery))
             .where(*conditions).order_by(DeliveryOutcome.id.desc()))
    counted = select(func.count()).select_from(DeliveryOutcome)
    if registry_id is not None:
        counted = counted.join(DeliveryOutcome.delivery)
    return paginate(query, page, per_page, counted=counted.where(*conditions),
                    outcome=outcome if outcome in OUTCOMES else "", repository=repository)


# -- the dashboard ------------------------------------------------------------------------------
@dataclass
class Dashboard:
    counts: dict[str, int]
    recent: list[Release]
    failing: list[ComponentRow]
    failing_total: int
    registries_failing: list[Registry]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def dashboard(team_id: int, limit: int = 10) -> Dashboard:
    """Counts by state, the last releases, components whose last release failed, registries whose
    last poll failed: four statements."""
    state = _state().label("state")
    counts = dict.fromkeys(STATES, 0)
    for name, count in db.session.execute(
            select(state, func.count()).select_from(Component)
            .outerjoin(Release, Release.id == _latest_release_id())
            .where(Component.team_id == team_id).group_by(state)):
        counts[name] = counts.get(name, 0) + count
    recent = list(db.session.scalars(
        select(Release).options(joinedload(Release.component)).where(Release.team_id == team_id)
        .order_by(Release.id.desc()).limit(limit)))
    failing = [ComponentRow(c, r) for c, r in db.session.execute(
        select(Component, Release).outerjoin(Release, Release.id == _latest_release_id())
        .where(Component.team_id == team_id, _state() == "failed").order_by(Release.id.desc()).limit(limit))]
    broken = list(db.session.scalars(
        select(Registry).where(Registry.team_id == team_id, Registry.last_poll_error.is_not(None))
        .order_by(Registry.name).limit(limit)))
    return Dashboard(counts, recent, failing, counts.get("failed", 0), broken)
