"""A team's public keys and signature policies: saved, listed, deleted (never while in use), and
which components a policy change would stop (services.trust.gate decides)."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

import re2
from sqlalchemy import func, select

from models import Component, Environment, Team, TrustKey, TrustPolicy, db
from services.errors import FieldErrors, ServiceError
from services.oversight import audit
from services.trust import cosign, scans

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$")
NAME_RULE = "Use 1 to 63 letters, digits, spaces, dots, dashes or underscores."


def keys(team: Team) -> list[TrustKey]:
    return list(db.session.scalars(select(TrustKey).where(TrustKey.team_id == team.id).order_by(TrustKey.name)))


def policies(team: Team) -> list[TrustPolicy]:
    return list(db.session.scalars(select(TrustPolicy).where(TrustPolicy.team_id == team.id)
                                   .order_by(TrustPolicy.name)))


def add_key(team: Team, name: str, pem: str, by: str, kind: str = "key") -> TrustKey:
    """Save a public key (kind "key") or a root CA certificate (kind "root", keyless signing)."""
    name = (name or "").strip()
    errors = {}
    if not NAME.match(name):
        errors["name"] = NAME_RULE
    if kind not in ("key", "root"):
        errors["kind"] = "Choose a public key or a root CA certificate."
    else:
        try:
            if kind == "root":
                cosign.load_root(pem)
                normalized = pem.strip() + "\n"
                fingerprint = cosign.root_fingerprint(normalized)
            else:
                normalized = cosign.normalized_pem(pem)
                fingerprint = cosign.fingerprint(normalized)
        except cosign.UnusableKey as e:
            errors["pem"] = e.message
    if errors:
        raise FieldErrors(errors)
    if db.session.scalar(select(TrustKey.id).where(TrustKey.team_id == team.id, func.lower(TrustKey.name)
                                                   == name.lower())):
        raise FieldErrors({"name": f"The team already has a key named {name}."})
    same = db.session.scalar(select(TrustKey).where(TrustKey.team_id == team.id, TrustKey.fingerprint == fingerprint))
    if same is not None:
        raise FieldErrors({"pem": f"This is already saved as {same.name}."})
    key = TrustKey(team_id=team.id, name=name, kind=kind, pem=normalized, fingerprint=fingerprint)
    db.session.add(key)
    db.session.flush()
    audit.record(team.id, by, "trust.key_added", name, f"{'root CA' if kind == 'root' else 'public key'} {fingerprint}")
    return key


def delete_key(key: TrustKey, by: str) -> None:
    using = [p.name for p in db.session.scalars(select(TrustPolicy).where(TrustPolicy.team_id == key.team_id))
             if key.id in (p.key_ids or [])]
    if using:
        raise ServiceError(f"Key {key.name} is in use by {', '.join(sorted(using))}: take it out of "
                           f"{'that policy' if len(using) == 1 else 'those policies'} first.")
    audit.record(key.team_id, by, "trust.key_deleted", key.name, key.fingerprint)
    db.session.delete(key)


@dataclass
class PolicyInput:
    name: str
    key_ids: list[int] = field(default_factory=list)
    threshold: int = 1
    attestations: str = ""  # one requirement per line (cosign.parse_requirements)
    subject_pattern: str = ""  # keyless: RE2 the certificate's SAN must match whole
    issuer_pattern: str = ""  # keyless: RE2 its OIDC issuer must match whole
    scan_below: str = ""  # Harbor: no finding at or above this severity ("" no scan required)
    scan_wait_seconds: int = 120  # how long to wait for a scan Berth starts


def save_policy(team: Team, data: PolicyInput, by: str, policy: TrustPolicy | None = None) -> TrustPolicy:
    name = (data.name or "").strip()
    errors = {}
    if not NAME.match(name):
        errors["name"] = NAME_RULE
    chosen = sorted({k.id for k in keys(team) if k.id in set(data.key_ids or [])})
    scan_below = (data.scan_below or "").strip().lower()
    if scan_below and scan_below not in scans.CHOICES:
        errors["scan_below"] = f"Choose one of {', '.join(scans.CHOICES)}, or no scan."
    if not 0 <= (data.scan_wait_seconds if data.scan_wait_seconds is not None else -1) <= scans.MAX_WAIT:
        errors["scan_wait_seconds"] = f"Wait 0 to {scans.MAX_WAIT} seconds for a scan."
    if not chosen and not scan_below:
        errors["key_ids"] = "Choose at least one key whose signatures count, or require a Harbor scan."
    elif not chosen and (data.attestations or "").strip():
        errors["key_ids"] = "Attestations are accepted when one of the chosen keys signed them: choose a key."
    elif chosen and not 1 <= (data.threshold or 0) <= len(chosen):
        errors["threshold"] = f"Require 1 to {len(chosen)} signatures (one per chosen key at most)."
    for field_name in ("subject_pattern", "issuer_pattern"):
        pattern = getattr(data, field_name) or ""
        if len(pattern) > 255:
            errors[field_name] = "At most 255 characters."
            continue
        try:
            re2.compile(pattern)
        except re2.error as e:
            errors[field_name] = f"This is not a regular expression (RE2): {e}"
    roots = [k for k in keys(team) if k.id in set(chosen) and k.kind == "root"]
    if roots and not (data.subject_pattern or "").strip():
        errors["subject_pattern"] = ("Say whose certificates count (e.g. https://ci\\.example\\.com/.* or "
                                     ".*@example\\.com): a root CA alone accepts anyone it certifies.")
    try:
        required = [r.text for r in cosign.parse_requirements(data.attestations)]
    except cosign.UnusableRequirement as e:
        errors["attestations"] = e.message
    if errors:
        raise FieldErrors(errors)
    clash = db.session.scalar(select(TrustPolicy.id).where(TrustPolicy.team_id == team.id,
                                                           func.lower(TrustPolicy.name) == name.lower()))
    if clash is not None and (policy is None or clash != policy.id):
        raise FieldErrors({"name": f"The team already has a policy named {name}."})
    created = policy is None
    if created:
        policy = TrustPolicy(team_id=team.id)
        db.session.add(policy)
    before = None if created else (list(policy.key_ids or []), policy.threshold)
    policy.name, policy.key_ids, policy.threshold = name, chosen, data.threshold
    policy.attestations = required
    policy.subject_pattern = (data.subject_pattern or "").strip()
    policy.issuer_pattern = (data.issuer_pattern or "").strip()
    policy.scan_below, policy.scan_wait_seconds = scan_below, data.scan_wait_seconds
    db.session.flush()
    policy.rule_hash = rule_hash(policy)
    names = ", ".join(k.name for k in keys(team) if k.id in chosen)
    signed = f"{data.threshold} of {names}" if chosen else "no signature"
    audit.record(team.id, by, "trust.policy_saved", name,
                 f"{'created' if created else 'changed'}: {signed}"
                 + (f"; attestations {', '.join(required)}" if required else "")
                 + (f"; Harbor scan below {scan_below}" if scan_below else "")
                 + ("" if created or before == (chosen, data.threshold) else
                    f" (was {before[1]} of {len(before[0])} keys)"))
    return policy


def delete_policy(policy: TrustPolicy, by: str) -> None:
    using = db.session.scalars(select(Component.name).where(Component.trust_policy_id == policy.id)
                               .order_by(Component.name).limit(6)).all()
    environments = environments_guarded(policy)
    if environments:
        raise ServiceError(f"Policy {policy.name} guards environment {', '.join(e.name for e in environments)}: "
                           "choose another policy (or none) on the environment first.")
    if using:
        raise ServiceError(f"Policy {policy.name} guards {', '.join(using[:5])}{'…' if len(using) > 5 else ''}: "
                           "choose another policy (or none) on their build source first.")
    audit.record(policy.team_id, by, "trust.policy_deleted", policy.name)
    db.session.delete(policy)


def guarded(policy: TrustPolicy) -> list[Component]:
    return list(db.session.scalars(select(Component).where(Component.trust_policy_id == policy.id)
                                   .order_by(Component.name)))


def guards(team: Team) -> dict[int, tuple[list[Component], list[Environment]]]:
    """Per policy of the team: the components and the environments it guards (two queries)."""
    out: dict[int, tuple[list[Component], list[Environment]]] = {p.id: ([], []) for p in policies(team)}
    for c in db.session.scalars(select(Component).where(Component.team_id == team.id,
                                                        Component.trust_policy_id.is_not(None))
                                .order_by(Component.name)):
        out.setdefault(c.trust_policy_id, ([], []))[0].append(c)
    for e in db.session.scalars(select(Environment).where(Environment.team_id == team.id,
                                                          Environment.trust_policy_id.is_not(None))
                                .order_by(Environment.name)):
        out.setdefault(e.trust_policy_id, ([], []))[1].append(e)
    return out


def environments_guarded(policy: TrustPolicy) -> list[Environment]:
    return list(db.session.scalars(select(Environment).where(Environment.trust_policy_id == policy.id)
                                   .order_by(Environment.name)))


def requirements(policy: TrustPolicy) -> list[cosign.Requirement]:
    return cosign.parse_requirements("\n".join(policy.attestations or []))


def rule_hash(policy: TrustPolicy) -> str:
    """What a verdict depends on: the threshold, the attestations, the scan and the keys'
    fingerprints (a key never changes: a new key is a new row, and a key in use cannot be deleted)."""
    text = json.dumps({"threshold": policy.threshold, "keys": sorted(k.fingerprint for k in public_keys(policy)),
                       "attestations": list(policy.attestations or []),
                       "identity": [policy.subject_pattern or "", policy.issuer_pattern or ""],
                       "scan": policy.scan_below or ""})
    return hashlib.sha256(text.encode()).hexdigest()


def public_keys(policy: TrustPolicy) -> list[cosign.PublicKey]:
    rows = db.session.scalars(select(TrustKey).where(TrustKey.team_id == policy.team_id,
                                                     TrustKey.id.in_(policy.key_ids or []))
                              .order_by(TrustKey.id)).all()
    return [cosign.PublicKey(k.name, k.pem, k.kind) for k in rows]


def identity(policy: TrustPolicy) -> cosign.Identity:
    return cosign.Identity(policy.subject_pattern or "", policy.issuer_pattern or "")
