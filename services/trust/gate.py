"""The one trust gate every release passes (webhook, poll, manual deploy, rollback, start, promotion):
does the component's policy accept this exact digest, and why not. Verdicts are cached per policy
and digest: an accepted digest is not asked of the registry again while the policy's keys and
threshold stay the same; a refused one is decided again only when its signatures changed (one
HEAD request for the signature tag), so signing an image after a refusal lets the next poll deploy it."""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from models import Component, TrustPolicy, TrustVerdict, db, utcnow
from services.registries import images
from services.registries.clients.errors import RegistryError, RegistryNotFound
from services.trust import cosign, policies


def policy_id_of(component: Component) -> int | None:
    """The policy guarding the component (a stage row follows its component's)."""
    if component.trust_policy_id is None and component.base_id is not None:
        return component.base.trust_policy_id
    return component.trust_policy_id


def check(component: Component, digest: str, source: images.ImageSource | None = None) -> cosign.Verdict | None:
    """The policy's verdict on `digest` for this component, or None when no policy guards it. A
    verdict cached under the policy's current rule is one indexed read."""
    policy_id = policy_id_of(component)
    if policy_id is None:
        return None
    cached = db.session.execute(
        select(TrustVerdict.ok, TrustVerdict.reason, TrustVerdict.signatures,
               (TrustVerdict.policy_hash == TrustPolicy.rule_hash).label("current"))
        .join(TrustPolicy, TrustPolicy.id == TrustVerdict.policy_id)
        .where(TrustVerdict.policy_id == policy_id, TrustVerdict.digest == digest)).first()
    if cached is not None and cached.current and cached.ok:
        return cosign.Verdict(True, cached.reason)
    policy = db.session.get(TrustPolicy, policy_id)
    required = policies.requirements(policy)
    if source is None:
        source = images.source_for(component.team_id, component.source_registry, component.image)
    client, repository = source.client, source.repository
    try:
        if cached is not None and cached.current and _state(client, repository, digest, required) == cached.signatures:
            return cosign.Verdict(False, cached.reason)
        keys = policies.public_keys(policy)
        signatures, signed_at, problems = cosign.read_signatures(client, repository, digest)
        verdict = cosign.evaluate(keys, policy.threshold, digest, signatures, problems, policies.identity(policy))
        attested_at = None
        if verdict.ok and required:
            statements, attested_at, problems = cosign.read_attestations(client, repository, digest, keys)
            missing = cosign.check_attestations(required, statements)
            if missing:
                verdict = cosign.Verdict(False, "refused: " + "; ".join(missing + problems[:2]), verdict.keys)
            else:
                verdict.reason += f"; attested: {', '.join(r.text for r in required)}"
    except RegistryError as e:  # not cached: asked again next time
        return cosign.Verdict(False, f"refused: the signatures could not be read from the registry ({e.message})")
    _remember(policy.id, digest, policy.rule_hash, verdict, f"{signed_at or '-'} {attested_at or '-'}")
    return verdict


def _state(client, repository: str, digest: str, required: list) -> str:
    """The digests of the signature (and attestation) manifests now: a refusal stands while they do."""
    def head(tag: str) -> str:
        try:
            return client.manifest_digest(repository, tag)
        except RegistryNotFound:
            return "-"
    attested = head(cosign.attestation_tag(digest)) if required else "-"
    return f"{head(cosign.signature_tag(digest))} {attested}"


def _remember(policy_id: int, digest: str, fingerprint: str, verdict: cosign.Verdict, signatures: str | None) -> None:
    """One row per policy and digest on either database: the newest verdict wins."""
    insert = postgresql_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    values = {"policy_hash": fingerprint, "ok": verdict.ok, "reason": verdict.reason[:1000],
              "signatures": signatures, "checked_at": utcnow()}
    statement = insert(TrustVerdict).values(policy_id=policy_id, digest=digest, **values)
    db.session.execute(statement.on_conflict_do_update(index_elements=["policy_id", "digest"], set_=values))


def refusal(component: Component, digest: str, source: images.ImageSource | None = None) -> str | None:
    """Why the component may not deploy `digest` (None: it may)."""
    verdict = check(component, digest, source)
    return None if verdict is None or verdict.ok else verdict.reason


def no_longer_passing(policy: TrustPolicy) -> list[tuple[Component, str]]:
    """The components this policy guards whose running digest it refuses now, with the reason (after
    a policy change: their next release must pass; what runs keeps running)."""
    out = []
    guarded = select(Component.id).where(Component.trust_policy_id == policy.id)
    for component in db.session.scalars(select(Component).where(
            or_(Component.id.in_(guarded), Component.base_id.in_(guarded)), Component.digest.is_not(None),
            or_(Component.trust_policy_id == policy.id, Component.trust_policy_id.is_(None)))
            .order_by(Component.name)):
        reason = refusal(component, component.digest)
        if reason is not None:
            out.append((component, reason))
    return out
