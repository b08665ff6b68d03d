"""Polling, the fallback when a registry cannot send webhooks.

Components are grouped by (registry, repository), so many components on one repository cost one
check: a manifest HEAD per distinct tag for "same tag" rules, one tag list for regex and semver
rules. What changed becomes a push event and goes through the same decision as a webhook."""
from __future__ import annotations

import logging
import sys
import threading
import time
import zlib
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import zip_longest
from typing import NamedTuple

from flask import current_app
from sqlalchemy import func, select, update

from models import Component, DeliveryOutcome, DeliveryStatus, Registry, Release, WebhookDelivery, db, utcnow
from services.components import releases
from services.delivery import autodeploy, leases, triggers
from services.delivery.webhooks import PushEvent
from services.errors import ReleaseConflict
from services.oversight import notifications
from services.platform import metrics, queries, runtime
from services.platform.jobs import unit_of_work
from services.platform.sentinel import NOT_PASSED, NotPassed
from services.registries import images, registries
from services.registries.clients.errors import RegistryError, RegistryRateLimited
from services.registries.clients.interface import RegistryClient

log = logging.getLogger("berth.polling")
PER_REGISTRY = 4
HOUR = 3600.0
# Registry requests an hour polling may make at hosted registries unless the registry or
# BERTH_POLL_BUDGET_PER_HOUR says otherwise: below Docker Hub's and GitHub's published per-hour
# allowances for a signed-in account, so auto-deploy leaves room for pulls. Self-hosted and cloud
# provider registries are not budgeted by default (a reported rate limit still holds polling back).
KIND_BUDGETS = {"dockerhub": 600, "ghcr": 1000, "gitlab": 1000}


class Budget:
    """The registry requests polling spent per registry over the last hour. Only the poll leader
    polls, so its process's count is the count."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self._spent: dict[int, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _used(self, registry_id: int, now: float) -> int:
        spent = self._spent[registry_id]
        while spent and spent[0][0] <= now - HOUR:
            spent.popleft()
        return sum(n for _, n in spent)

    def take(self, registry_id: int, cost: int, per_hour: int) -> float | None:
        """Spend `cost` requests if the hour's budget allows: None, else when enough is free again."""
        with self._lock:
            now = self.clock()
            used = self._used(registry_id, now)
            if used + cost <= per_hour:
                self._spent[registry_id].append((now, cost))
                return None
            for at, n in self._spent[registry_id]:  # oldest first: when enough of it has aged out
                used -= n
                if used + cost <= per_hour:
                    return at + HOUR
            return now + HOUR  # costs more than a whole hour's budget: try again in an hour


def budget() -> Budget:
    """This process's polling budget (kept with the app: only its leader polls)."""
    state = runtime.of()
    if state.poll_budget is None:
        state.poll_budget = Budget()
    return state.poll_budget


class Watched(NamedTuple):
    """What a poll cycle keeps of a due component until its group is polled: enough to tell that
    nothing changed (a tuple of shared strings: an organisation's 100,000 fit in a few MB)."""

    id: int
    tag: str
    digest: str | None
    trigger_kind: str
    trigger_pattern: str | None
    include_prereleases: bool
    no_downgrade: bool

    @classmethod
    def of(cls, id_: int, tag: str, digest: str | None, kind: str, pattern: str | None, prereleases: bool,
           no_downgrade: bool, intern=sys.intern) -> Watched:
        return cls(id_, intern(tag), digest and intern(digest), intern(kind), pattern and intern(pattern),
                   prereleases, no_downgrade)


@dataclass
class Group:
    """Components that share one repository in one registry (or one plain-reference host)."""

    registry_id: int | None
    repository: str
    client: RegistryClient
    same_tags: set[str] = field(default_factory=set)
    needs_list: bool = False
    components: list[Watched] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)
    tags: list[str] | None = None
    error: RegistryError | None = None
    newest: dict = field(default_factory=dict)  # (rule, tag) -> the tag it would deploy: components often share rules

    @property
    def component_ids(self) -> list[int]:
        return [c.id for c in self.components]

    def watch(self, component: Watched) -> None:
        """Add a component and what it needs asked: a manifest HEAD of its tag for a "same tag"
        rule, the tag list for the others."""
        self.components.append(component)
        if component.trigger_kind == "same_tag":
            self.same_tags.add(component.tag)
        else:
            self.needs_list = True


@dataclass
class PollReport:
    groups: int = 0
    events: int = 0
    deployed: int = 0
    errors: list[str] = field(default_factory=list)


def run_cycle() -> None:
    """One poll cycle as the leader's scheduler runs it: timed, counted and logged."""
    with metrics.POLL_DURATION.time():
        report = poll_cycle()
    metrics.POLL_LAST.set_to_current_time()
    log.info("poll cycle: %d group(s), %d change(s), %d deploy(s), %d error(s)",
             report.groups, report.events, report.deployed, len(report.errors))


def _check(group: Group) -> None:
    """The registry requests for one group; no database here (runs in a thread)."""
    try:
        for tag in sorted(group.same_tags):
            group.digests[tag] = group.client.manifest_digest(group.repository, tag)
        if group.needs_list:
            group.tags = group.client.tag_list(group.repository).names
    except RegistryError as e:
        group.error = e
    except Exception as e:  # logged; one registry's odd answer must not stop the cycle
        log.exception("polling %s failed", group.repository)
        group.error = _unusable(group, e)


def _unusable(group: Group, error: Exception) -> RegistryError:
    """The error recorded on a registry whose answer broke something Berth did with it."""
    return RegistryError(f"Berth could not use the registry's answer for {group.repository} "
                         f"({type(error).__name__}); see the server log.")


BATCH = 200  # watch keys claimed and recorded together
# What polling reads of each auto-deployed component: what is due, how it groups, and what it runs
# (enough to tell that nothing changed without reading the component again).
WATCHED = (Component.id, Component.name, Component.team_id, Component.registry_id, Component.image, Component.tag,
           Component.digest, Component.trigger_kind, Component.trigger_pattern, Component.include_prereleases,
           Component.no_downgrade, Component.last_polled_at, Component.poll_interval)


def _due_groups(active, regs: dict[int, Registry], now, report: PollReport) -> tuple[dict[str, Group], float]:
    """The due components by watch key, and how late the latest of them is (seconds).

    Only the columns polling needs, streamed (an organisation's 100,000 components are never all
    loaded), and as plain rows: every polling process reads them all, so a row costs as little as
    it can. A due row is kept with its group, and tells after the registry answered whether
    anything changed; only a component with news is read again (locked) to decide."""
    default_interval = current_app.config["BERTH_POLL_INTERVAL"]
    cutoff = now - timedelta(seconds=default_interval)  # polled before this: due (the default interval)
    oldest = None  # the oldest poll of a due component on the default interval: the latest of those
    most_late = 0.0
    leader = _leads()
    left_out: dict[int, bool] = {}  # per registry: backing off; or budgeted, which only the leader polls
    groups: dict[str, Group] = {}
    keys_of: dict[tuple, str] = {}  # one source per repository, not per component (a password decrypted once)
    rows = db.session.connection().execute(
        select(*WATCHED).where(*active).order_by(Component.id).execution_options(yield_per=5000))
    for (cid, name, team_id, registry_id, image, tag, digest, kind, pattern, prereleases, no_downgrade,
         polled, interval) in rows:
        if polled is not None:
            if interval:  # its own interval
                late = (now - polled).total_seconds() - interval
                if late < 0:
                    continue
                most_late = max(most_late, late)
            elif polled > cutoff:
                continue
            elif oldest is None or polled < oldest:
                oldest = polled
        reg = regs.get(registry_id)  # None for a plain reference (no registry)
        if reg is not None:
            skip = left_out.get(registry_id)
            if skip is None:
                skip = left_out[registry_id] = bool(
                    reg.poll_backoff_until and reg.poll_backoff_until > now or not leader and _budget_of(reg))
            if skip:
                continue
        place = (team_id, registry_id, image if reg else f"{image}:{tag}")
        key = keys_of.get(place)
        if key is None:
            try:
                source = images.source_for(team_id, reg, place[2], credentials=False)
            except (ValueError, RegistryError) as e:
                report.errors.append(f"{name}: {e}")
                continue
            key = keys_of[place] = \
                f"r{reg.id}/{source.repository}" if reg else f"h{source.pull_name.split('/', 1)[0]}/{source.repository}"
            if key not in groups:
                groups[key] = Group(reg.id if reg else None, source.repository, source.client)
        groups[key].watch(Watched.of(cid, tag, digest, kind, pattern, prereleases, no_downgrade))
    if oldest is not None:
        most_late = max(most_late, (cutoff - oldest).total_seconds())
    return groups, most_late


def poll_cycle(now=None) -> PollReport:
    """Check every due auto-deploy component once; deploy what changed. Every process that polls
    (each replica on PostgreSQL) runs this: the watch keys are claimed in batches through
    services.delivery.leases, so each key is polled by one process per cycle."""
    read_at = utcnow()  # a key polled after this, by another process, is not polled again here
    now = now or read_at
    report = PollReport()
    active = (Component.auto_deploy.is_(True), Component.stopped.is_(False))
    regs = {r.id: r for r in db.session.scalars(select(Registry).where(Registry.id.in_(
        select(Component.registry_id).where(*active).distinct())))}
    groups, most_late = _due_groups(active, regs, now, report)
    metrics.POLL_LAG.set(most_late)
    paused = _hold_back(groups, regs)
    keys = _interleaved(groups)
    batches = [keys[i:i + BATCH] for i in range(0, len(keys), BATCH)]
    state = runtime.of()
    if batches:
        # Each process starts at a batch of its own (the same every cycle while the keys stay), and
        # first asks for the batches it polled last cycle: the replicas rarely ask for the same keys
        # at once, and each polls mostly what it polled last time, with the registry tokens (one per
        # repository at most registries) and connections it holds for those repositories.
        turn = zlib.crc32(leases.holder().encode()) % len(batches)
        batches = batches[turn:] + batches[:turn]
        batches.sort(key=lambda b: b[0] not in state.polled_batches)
    polled_batches: set[str] = set()
    quiet_registries: set[int] = set()
    failed_registries: set[int] = set()
    for batch in batches:
        mine = leases.claim(batch, read_at)
        if not mine:
            continue
        polled_batches.add(batch[0])
        polled = False
        try:
            claimed = [groups[k] for k in mine]
            _poll_batch(claimed, now, report)
            for g in claimed:
                if g.registry_id is not None:
                    (failed_registries if g.error is not None else quiet_registries).add(g.registry_id)
            polled = True
        finally:
            leases.end(mine, polled)
    state.polled_batches = polled_batches
    _record_registries(quiet_registries, failed_registries, paused, now)
    return report


def _interleaved(groups: dict[str, Group]) -> list[str]:
    """The keys in an order every process computes alike, taking one registry's keys in turn with
    the others': a batch asks several registries at once, each at most PER_REGISTRY at a time."""
    by_registry: dict[object, list[str]] = defaultdict(list)
    for key in sorted(groups):
        by_registry[key.split("/", 1)[0]].append(key)
    return [key for turn in zip_longest(*by_registry.values()) for key in turn if key is not None]


def _leads() -> bool:
    """Whether this process polls what only one may (registries with a request budget): the
    leader, or a process polling on its own (no scheduler: a CLI run, a benchmark, a test)."""
    leadership = runtime.of().leadership
    return leadership is None or leadership.held


def _budget_of(registry: Registry) -> int:
    cfg = current_app.config
    return registry.poll_budget or cfg["BERTH_POLL_BUDGET_PER_HOUR"] or KIND_BUDGETS.get(registry.kind, 0)


def _poll_batch(batch: list[Group], now, report: PollReport) -> None:
    """Poll one claimed batch of groups and record it. No other process polled these keys since
    this one read them (services.delivery.leases), so the rows read then say what is due."""
    report.groups += len(batch)
    _run_checks(batch)
    # Most groups find nothing new (judged on the rows read): they are recorded together, in one
    # short unit of work. Only a group that failed or may have news is decided on its own, with its
    # components read again and locked.
    latest = _latest_digests([cid for g in batch for cid in g.component_ids])
    quiet = [g for g in batch if g.error is None and not any(
        _finding(c, g, latest.get(c.id)) for c in g.components)]
    _record_quiet(quiet, now)
    quiet_ids = {id(g) for g in quiet}
    for group in batch:
        if id(group) not in quiet_ids:
            _apply_alone(group, now, report)


def _hold_back(groups: dict[tuple, Group], registries_by_id: dict[int, Registry]) -> dict[int, str]:
    """Take out of this cycle the groups whose registry must not be asked now: its reported rate
    limit is down to the share kept for the runtime's pulls (until its reset, or the end of a 429's
    wait), or polling spent its hourly budget there (a 429 without figures is the backoff's).
    Their components stay due and are polled once it frees up.
    Returns why, per registry."""
    cfg = current_app.config
    now = time.time()
    paused: dict[int, str] = {}
    for key, group in list(groups.items()):
        registry = registries_by_id.get(group.registry_id)
        if registry is None:
            continue
        if registry.id not in paused:
            limit = registries.rate_limit_of(registry)
            reserve = int((limit.limit or 0) * cfg["BERTH_POLL_RATE_RESERVE"]) if limit else 0
            until = limit.exhausted(now, reserve) if limit else None
            if until is not None:
                paused[registry.id] = (f"Polling paused: the registry's rate limit has {limit.remaining} request(s) "
                                       f"left, kept for pulls; resumes at {_clock(until)}.")
        if registry.id in paused:
            del groups[key]
            continue
        per_hour = _budget_of(registry)
        if not per_hour:
            continue
        until = budget().take(registry.id, len(group.same_tags) + int(group.needs_list), per_hour)
        if until is not None:
            paused[registry.id] = (f"Polling paused: its budget of {per_hour} registry requests an hour is spent; "
                                   f"resumes at {_clock(until)}.")
            del groups[key]
    return paused


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(epoch))


def _record_registries(quiet: set[int], failed: set[int], paused: dict[int, str], now) -> None:
    """Once per cycle, on the registries' rows: polled without trouble (poll time, error and
    backoff cleared), the rate limits seen, and why polling paused. A registry where one of this
    process's groups failed keeps the error that group recorded."""
    if not (quiet or failed or paused):
        return
    ok = sorted(quiet - failed - set(paused))
    with unit_of_work():
        if ok:
            db.session.execute(update(Registry).where(Registry.id.in_(ok))
                               .values(last_poll_at=now, last_poll_error=None, poll_backoff_until=None)
                               .execution_options(synchronize_session=False))
        registries.store_rate_limits(sorted(quiet | failed | set(paused)))
        for registry_id, why in paused.items():
            registry = db.session.get(Registry, registry_id)
            if registry is not None:
                registry.last_poll_error = why[:500]


def _latest_digests(component_ids: list[int]) -> dict[int, str | None]:
    """The digest of each component's newest release, in one statement per 5,000 components."""
    out: dict[int, str | None] = {}
    for i in range(0, len(component_ids), 5000):
        chunk = component_ids[i:i + 5000]
        newest = (select(func.max(Release.id)).where(queries.one_of(Release.component_id, chunk))
                  .group_by(Release.component_id))
        out.update(db.session.execute(select(Release.component_id, Release.digest).where(Release.id.in_(newest))).all())
    return out


def _record_quiet(groups: list[Group], now) -> None:
    """Polled, nothing new: the components' poll times, one statement per 5,000 (their registries'
    are written once per cycle, `_record_registries`). A poll changes none of the components'
    settings: their updated_at stays."""
    if not groups:
        return
    component_ids = sorted(cid for g in groups for cid in g.component_ids)
    with unit_of_work():
        for i in range(0, len(component_ids), 5000):
            chunk = queries.one_of(Component.id, component_ids[i:i + 5000])
            if queries.postgresql():
                # Locked in id order first, as deliveries lock them: an UPDATE … IN (…) alone locks
                # rows in the order it finds them on disk, which deadlocks against a delivery holding
                # a lower id. (SQLite has one writer at a time: nothing to order.)
                locked = select(Component.id).where(chunk).order_by(Component.id).with_for_update().subquery()
                chunk = Component.id == locked.c.id
            db.session.execute(update(Component).where(chunk)
                               .values(last_polled_at=now, updated_at=Component.updated_at)
                               .execution_options(synchronize_session=False))


def _apply_alone(group: Group, now, report: PollReport) -> None:
    """Apply one group's findings in a unit of work of its own: a group that fails is recorded on its
    registry and rolled back alone, and the rest of the cycle goes on. A group whose component got
    a release from elsewhere meanwhile (ReleaseConflict) is decided again from the new state."""
    for _ in range(autodeploy.CONFLICT_ATTEMPTS):
        try:
            with unit_of_work():
                events, deployed = _apply(group, now, report)
            report.events += events
            report.deployed += deployed
            return
        except ReleaseConflict:
            continue
        except Exception as e:  # logged; one group must not stop the others
            log.exception("applying the poll of %s failed", group.repository)
            group.error = _unusable(group, e)
            break
    if group.error is None:
        return  # conflicts every time: the next cycle tries again
    with unit_of_work():
        _apply(group, now, report)  # records the error on the registry


def _run_checks(groups: list[Group]) -> None:
    """Check groups in parallel, at most PER_REGISTRY at a time against any one registry."""
    if not groups:
        return
    caps: dict = defaultdict(lambda: threading.Semaphore(PER_REGISTRY))

    def run(group):
        with caps[group.registry_id]:
            _check(group)
    with ThreadPoolExecutor(max_workers=min(16, len(groups))) as pool:
        list(pool.map(run, groups))


def _apply(group: Group, now, report: PollReport) -> tuple[int, int]:
    """Record the poll on the registry and decide for each component what changed; returns
    (events, deployed)."""
    registry = db.session.get(Registry, group.registry_id) if group.registry_id else None
    if group.error is not None:
        report.errors.append(group.error.message)
        if registry is not None:
            if registry.last_poll_error is None:  # it starts failing: say so once, not every cycle
                notifications.notify(registry.team_id, "registry.poll_failing", f"polling registry {registry.name} "
                                     f"fails: {group.error.message[:200]}", {"registry": registry.name,
                                                                            "reason": group.error.message[:500]},
                                     notifications.external_link("registries.webhook", registry_id=registry.id))
            registry.last_poll_at, registry.last_poll_error = now, group.error.message[:500]
            if isinstance(group.error, RegistryRateLimited):
                wait = group.error.retry_after if group.error.retry_after is not None else 60
                registry.poll_backoff_until = now + timedelta(seconds=wait)
        return 0, 0
    if registry is not None:
        registry.last_poll_at, registry.last_poll_error, registry.poll_backoff_until = now, None, None
    findings = []
    for cid in group.component_ids:
        # Locked like a webhook delivery's targets, so the two never decide for one component at once.
        component = db.session.get(Component, cid, with_for_update=True)
        if component is None or not component.auto_deploy or component.stopped:
            continue  # deleted, stopped or no longer auto-deployed since it was read
        component.last_polled_at = now
        event = _finding(component, group)
        if event is not None:
            findings.append((component, event))
    if not findings:
        return 0, 0
    delivery = WebhookDelivery(team_id=findings[0][0].team_id, registry_id=group.registry_id, source="poll",
                               headers={}, body="", status=DeliveryStatus.DONE, processed_at=now,
                               summary=f"poll of {group.repository}: {len(findings)} change(s)")
    db.session.add(delivery)
    db.session.flush()
    outcomes = [autodeploy.decide(delivery, "poll", component, event, trigger="poll") for component, event in findings]
    # A poll that finds the same refusal again (auto-deploy paused, a digest marked bad, a cooldown
    # running, a platform missing, the trust policy's) records nothing new (nor notifies again).
    outcomes = [o for o in outcomes if not _repeats(o)]
    if not outcomes:
        db.session.delete(delivery)
        return 0, 0
    db.session.add_all(outcomes)
    autodeploy.announce(outcomes)
    return len(outcomes), sum(o.outcome == "deployed" for o in outcomes)


def _repeats(outcome: DeliveryOutcome) -> bool:
    if outcome.outcome not in ("ignored", "refused") or outcome.component_id is None:
        return False
    last = db.session.scalars(select(DeliveryOutcome).where(DeliveryOutcome.component_id == outcome.component_id)
                              .order_by(DeliveryOutcome.id.desc()).limit(1)).first()
    return last is not None and (last.tag, last.outcome, last.reason) == (outcome.tag, outcome.outcome,
                                                                          outcome.reason)


def _finding(component: Component | Watched, group: Group, latest_digest: str | None | NotPassed = NOT_PASSED
             ) -> PushEvent | None:
    """A push event when the registry has something this component does not run yet
    (`latest_digest`: its newest release's digest, when the caller read it already)."""
    if component.trigger_kind == "same_tag":
        digest = group.digests.get(component.tag)
        if latest_digest is NOT_PASSED:
            latest = releases.latest_release(component)
            latest_digest = latest.digest if latest is not None else None
        # Already running, deploying or tried: not news (a failed digest is retried only by a replay).
        known = {component.digest, latest_digest}
        if digest and digest not in known:
            return PushEvent(group.repository, component.tag, digest)
        return None
    rule = triggers.Rule.of(component)
    if (rule, component.tag) not in group.newest:
        group.newest[rule, component.tag] = triggers.newest(
            [t for t in group.tags or [] if triggers.matches(rule, t, component.tag)[0]])
    best = group.newest[rule, component.tag]
    if best is None or best == component.tag:
        return None
    if component.digest and triggers.older(best, component.tag):
        return None
    return PushEvent(group.repository, best)
