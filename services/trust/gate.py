"""The one trust gate every release passes (webhook, poll, manual deploy, rollback, start, promotion):
do the policies guarding the component (its own, and its environment's) accept this exact digest,
and why not. Verdicts are cached per policy and digest: an accepted digest is not asked of the
registry again while the policy's rule stays the same; a refused one is decided again only when
what it was decided on changed (one request per part read: the .sig and .att tags, the referrers),
so signing an image after a refusal lets the next poll deploy it. A refusal by a Harbor scan is
always decided again (the scan may have finished, or been run again)."""
from __future__ import annotations

from sqlalchemy import or_, select

from models import Component, Environment, EnvironmentTarget, Release, TrustPolicy, TrustVerdict, db, utcnow
from services.platform import queries
from services.registries import images
from services.registries.clients.errors import RegistryError, RegistryNotFound
from services.trust import cosign, policies, scans


def policy_ids_of(component: Component) -> list[int]:
    """The policies guarding the component: its own (a stage row follows its component's), and
    its environment's for a stage row. Each must accept a digest."""
    own = component.trust_policy_id
    if own is None and component.base_id is not None:
        own = component.base.trust_policy_id
    ids = [own] if own is not None else []
    if component.env_target_id is not None:
        environment_policy = db.session.scalar(
            select(Environment.trust_policy_id)
            .join(EnvironmentTarget, EnvironmentTarget.environment_id == Environment.id)
            .where(EnvironmentTarget.id == component.env_target_id))
        if environment_policy is not None and environment_policy not in ids:
            ids.append(environment_policy)
    return ids


def guarded(component: Component) -> bool:
    return bool(policy_ids_of(component))


def check(component: Component, digest: str, source: images.ImageSource | None = None,
          scan: str = scans.READ) -> cosign.Verdict | None:
    """The verdict on `digest` for this component, or None when no policy guards it: the first
    refusal, or every policy's acceptance. `scan`: what a Harbor scan still to come may do
    (scans.READ only reads; scans.START asks Harbor to scan; nothing here waits)."""
    verdicts = []
    for policy_id in policy_ids_of(component):
        verdict = _check(policy_id, component, digest, source, scan)
        if not verdict.ok:
            return verdict
        verdicts.append(verdict)
    if not verdicts:
        return None
    return verdicts[0] if len(verdicts) == 1 else cosign.Verdict(True, "; ".join(v.reason for v in verdicts))


def _check(policy_id: int, component: Component, digest: str, source: images.ImageSource | None,
           scan: str = scans.READ) -> cosign.Verdict:
    """One policy's verdict. A verdict cached under the policy's current rule is one indexed read."""
    cached = db.session.execute(
        select(TrustVerdict.ok, TrustVerdict.reason, TrustVerdict.signatures,
               (TrustVerdict.policy_hash == TrustPolicy.rule_hash).label("current"))
        .join(TrustPolicy, TrustPolicy.id == TrustVerdict.policy_id)
        .where(TrustVerdict.policy_id == policy_id, TrustVerdict.digest == digest)).first()
    if cached is not None and cached.current and cached.ok:
        return cosign.Verdict(True, cached.reason)
    policy = db.session.get(TrustPolicy, policy_id)
    if source is None:
        source = images.source_for(component.team_id, component.source_registry, component.image)
    reading = _Reading(source.client, source.repository, digest)
    try:
        if cached is not None and cached.current and reading.unchanged(cached.signatures or ""):
            return cosign.Verdict(False, cached.reason)
        verdict = _decide(policy, reading, scan)
    except RegistryError as e:  # not cached: asked again next time
        return cosign.Verdict(False, f"refused: {policy.name}: the registry could not be asked ({e.message})")
    _remember(policy.id, digest, policy.rule_hash, verdict, reading.state())
    return verdict


def _decide(policy: TrustPolicy, reading: _Reading, scan: str = scans.READ) -> cosign.Verdict:
    """Signatures first (the .sig tag; the referrers only when it is not enough), then the required
    attestations (the .att tag; then the referrers), then the Harbor scan."""
    keys, identity, digest = policies.public_keys(policy), policies.identity(policy), reading.digest
    if keys:
        verdict = _signatures(policy, reading, keys, identity)
    else:
        verdict = cosign.Verdict(True, "no signature required")
    required = policies.requirements(policy)
    if verdict.ok and required:
        statements, att_manifest, problems = cosign.read_attestations(reading.client, reading.repository, digest,
                                                                      keys, identity)
        reading.seen["att"] = att_manifest or "-"
        missing = cosign.check_attestations(required, statements)
        if missing:
            referred = reading.referred()
            problems += referred.problems
            for manifest in referred.attestations:
                found, why = cosign.statements_in(reading.client, reading.repository, digest, manifest, keys,
                                                  identity, first=len(statements))
                statements += found
                problems += why
            missing = cosign.check_attestations(required, statements)
        if missing:
            return cosign.Verdict(False, "refused: " + "; ".join(missing + problems[:2]), verdict.keys)
        verdict.reason += f"; attested: {', '.join(r.text for r in required)}"
    if verdict.ok and policy.scan_below:
        scanned = scans.harbor_verdict(scans.ScanRule.of(policy), reading.client, reading.repository, digest, scan)
        if not scanned.ok:
            reading.seen["scan"] = "x"  # a scan refusal is decided again next time
            return scanned
        verdict.reason = scanned.reason if not keys and not required else f"{verdict.reason}; {scanned.reason}"
    return verdict


def _signatures(policy: TrustPolicy, reading: _Reading, keys: list[cosign.PublicKey],
                identity: cosign.Identity) -> cosign.Verdict:
    digest = reading.digest
    signatures, sig_manifest, problems = cosign.read_signatures(reading.client, reading.repository, digest)
    reading.seen["sig"] = sig_manifest or "-"
    verdict = cosign.evaluate(keys, policy.threshold, digest, signatures, problems, identity)
    if verdict.ok:
        return verdict
    referred = reading.referred()
    more, more_problems = [], list(referred.problems)
    for manifest in referred.signatures:
        found, why = cosign.signatures_in(reading.client, reading.repository, manifest, len(signatures) + len(more))
        more += found
        more_problems += why
    if not more and not more_problems:
        return verdict
    return cosign.evaluate(keys, policy.threshold, digest, signatures + more, problems + more_problems, identity)


class _Reading:
    """One digest's signatures and attestations as read for a decision: each source at most once, and
    what each was when read (a refusal stands while they stay so; a part never read is not asked)."""
    PARTS = ("sig", "att", "ref", "scan")

    def __init__(self, client, repository: str, digest: str):
        self.client, self.repository, self.digest = client, repository, digest
        self.seen = dict.fromkeys(self.PARTS, "?")
        self._referred: cosign.Referred | None = None

    def referred(self) -> cosign.Referred:
        if self._referred is None:
            token, listing = self.client.referrers(self.repository, self.digest)
            self.seen["ref"] = token
            self._referred = cosign.read_referrers(self.client, self.repository, self.digest, listing)
        return self._referred

    def state(self) -> str:
        return " ".join(self.seen[p][:27] for p in self.PARTS)

    def _now(self, part: str) -> str:
        if part == "ref":
            return self.client.referrers(self.repository, self.digest)[0]
        tag = (cosign.signature_tag if part == "sig" else cosign.attestation_tag)(self.digest)
        try:
            return self.client.manifest_digest(self.repository, tag)
        except RegistryNotFound:
            return "-"

    def unchanged(self, state: str) -> bool:
        """Whether every part the cached decision read is as it was (one request per part)."""
        parts = state.split(" ")
        if len(parts) != len(self.PARTS) or parts[-1] != "?":
            return False
        for part, was in zip(self.PARTS, parts, strict=True):
            if was != "?" and self._now(part)[:27] != was:
                return False
        return True


def _remember(policy_id: int, digest: str, fingerprint: str, verdict: cosign.Verdict, signatures: str | None) -> None:
    """One row per policy and digest on either database: the newest verdict wins."""
    values = {"policy_hash": fingerprint, "ok": verdict.ok, "reason": verdict.reason[:1000],
              "signatures": signatures, "checked_at": utcnow()}
    statement = queries.upsert(TrustVerdict).values(policy_id=policy_id, digest=digest, **values)
    db.session.execute(statement.on_conflict_do_update(index_elements=["policy_id", "digest"], set_=values))


def refusal(component: Component, digest: str, source: images.ImageSource | None = None,
            scan: str = scans.READ) -> str | None:
    """Why the component may not deploy `digest` (None: it may)."""
    verdict = check(component, digest, source, scan)
    return None if verdict is None or verdict.ok else verdict.reason


def no_longer_passing(policy: TrustPolicy) -> list[tuple[Component, str]]:
    """The components this policy guards (its own, their stage rows, and the stage rows of the
    environments it guards) whose running digest it refuses now, with the reason (after a policy
    change: their next release must pass; what runs keeps running)."""
    out = []
    own = select(Component.id).where(Component.trust_policy_id == policy.id)
    targets = (select(EnvironmentTarget.id).join(Environment, Environment.id == EnvironmentTarget.environment_id)
               .where(Environment.trust_policy_id == policy.id))
    for component in db.session.scalars(select(Component).where(
            or_(Component.id.in_(own), Component.base_id.in_(own), Component.env_target_id.in_(targets)),
            Component.digest.is_not(None)).order_by(Component.name)):
        if policy.id not in policy_ids_of(component):
            continue
        verdict = _check(policy.id, component, component.digest, None)
        if not verdict.ok:
            out.append((component, verdict.reason))
    return out


def wait_for_scans(release_id: int) -> None:
    """Before a release is applied, outside any transaction: wait for the Harbor scans its
    component's policies require (asking Harbor to scan when it has not), at most each policy's
    wait, so the gate then reads a finished scan. Registry errors are left to the gate to say."""
    release = db.session.get(Release, release_id)
    component = release.component
    rules = [scans.ScanRule.of(p) for p in (db.session.get(TrustPolicy, i) for i in policy_ids_of(component))
             if p.scan_below]
    if not rules or release.trust_override:
        db.session.rollback()
        return
    source = images.release_source(component, release)
    digest, tag = release.digest, release.tag
    db.session.rollback()  # nothing is held while Harbor scans
    try:
        digest = digest or source.client.manifest_digest(source.repository, tag)
        for rule in rules:
            scans.harbor_verdict(rule, source.client, source.repository, digest, scans.WAIT)
    except RegistryError:
        pass
