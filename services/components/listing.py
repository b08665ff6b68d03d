"""Lists that stay fast at thousands of rows: one page (50 rows) and its count, two statements
whatever the table holds; plus the team's lists and the dashboard, each read in a fixed number of
statements (the row's related objects come with it, never one query per row)."""
from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from sqlalchemy import Select, case, func, literal, or_, select
from sqlalchemy.orm import contains_eager, joinedload

from models import (
    Application,
    Component,
    DeliveryOutcome,
    Registry,
    Release,
    ReleaseStatus,
    WebhookDelivery,
    db,
)

PER_PAGE = 50
MAX_PAGE = 100_000

# What the list and the dashboard call a component's state: its latest release's status, or
# "stopped"; a release waiting for a worker counts as deploying.
STATES = ("running", "deploying", "failed", "stopped", "never deployed")


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int = PER_PAGE
    filters: dict = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def filtered(self) -> bool:
        return any(self.filters.values())

    def args(self, page: int) -> dict:
        """Query arguments for another page of the same list (the filters that are set, and page)."""
        return {**{k: v for k, v in self.filters.items() if v}, "page": page}

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.per_page + len(self.items)


def page_number(raw) -> int:
    try:
        return max(1, min(int(raw), MAX_PAGE))
    except (TypeError, ValueError):
        return 1


def paginate(query: Select, page: int, per_page: int = PER_PAGE, *, scalars: bool = True, counted: Select | None = None,
             **filters) -> Page:
    """One page of `query` (already ordered) and the count of all its rows (`counted`, when a
    cheaper statement counts the same rows)."""
    counted = counted if counted is not None else select(func.count()).select_from(query.order_by(None).subquery())
    total = db.session.scalar(counted) or 0
    page = min(page, max(1, ceil(total / per_page)))
    paged = query.offset((page - 1) * per_page).limit(per_page)
    rows = db.session.scalars(paged).unique().all() if scalars else db.session.execute(paged).unique().all()
    return Page(list(rows), total, page, per_page, filters)


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
             .where(Component.team_id == team_id).order_by(Component.name))
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
