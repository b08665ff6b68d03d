"""cosign signatures, read from a registry and verified offline with `cryptography` (pure: no
database, no Flask). A signature of image digest D lives in the same repository under the tag
`sha256-<hex of D>.sig`: an OCI manifest whose layers are simple-signing payloads (JSON naming D),
each with its base64 signature in the `dev.cosignproject.cosign/signature` annotation. Nothing is
fetched from a transparency log: Rekor inclusion is not checked (see README, Trust).

Everything read from the registry is hostile input: sizes, counts and nesting are bounded, and
every failure is a sentence in the verdict, never an exception out of `verify`."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import re2
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from services.errors import BerthError
from services.registries.clients.errors import RegistryNotFound

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
MAX_CERT_PEM = 32 * 1024
# Fulcio's OIDC issuer extension: v2 (a DER UTF8String) and v1 (the raw string).
ISSUER_V2, ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
PAYLOAD_TYPE = "cosign container image signature"
MAX_LAYERS = 32  # signatures read per image; more are ignored (and said so)
MAX_PAYLOAD = 64 * 1024
MAX_KEY_PEM = 16 * 1024
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class UnusableKey(BerthError):
    """A public key Berth cannot use; the message says why."""


@dataclass(frozen=True)
class PublicKey:
    """A public key (kind "key"), or a root CA certificate (kind "root") whose code-signing
    certificates are accepted when their subject and issuer match the policy's patterns."""
    name: str
    pem: str
    kind: str = "key"

    @property
    def fingerprint(self) -> str:
        return root_fingerprint(self.pem) if self.kind == "root" else fingerprint(self.pem)


@dataclass
class Signature:
    payload: bytes
    signature: bytes
    layer: int
    certificate: str | None = None  # keyless: the signing certificate and its chain (PEM)
    chain: str | None = None


@dataclass(frozen=True)
class Identity:
    """What a keyless certificate must name: its subject (SAN URI or email) and OIDC issuer, RE2
    patterns matched whole (empty: any)."""
    subject: str = ""
    issuer: str = ""


def load_root(pem: str) -> x509.Certificate:
    """A root CA certificate in PEM, or UnusableKey saying why."""
    if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
        raise UnusableKey("Paste the root CA certificate in PEM (-----BEGIN CERTIFICATE-----).")
    if len(pem) > MAX_KEY_PEM:
        raise UnusableKey(f"A certificate is at most {MAX_KEY_PEM // 1024} KiB of PEM.")
    try:
        cert = x509.load_pem_x509_certificate(pem.strip().encode())
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise UnusableKey("This certificate is not a CA (no basic constraints).") from None
    except ValueError:
        raise UnusableKey("This is not a PEM certificate.") from None
    if not constraints.ca:
        raise UnusableKey("This certificate is not a CA: paste the root that issues the signing certificates.")
    return cert


def root_fingerprint(pem: str) -> str:
    return "sha256:" + load_root(pem).fingerprint(hashes.SHA256()).hex()


def _issuer_of(cert: x509.Certificate) -> str:
    for oid, der in ((ISSUER_V2, True), (ISSUER_V1, False)):
        try:
            raw = cert.extensions.get_extension_for_oid(oid).value.value
        except x509.ExtensionNotFound:
            continue
        if der and len(raw) > 2 and raw[0] == 0x0C and raw[1] < 0x80:  # UTF8String, short length
            raw = raw[2:2 + raw[1]]
        return raw.decode("utf-8", "replace")[:300]
    return ""


def _certificate_problem(certificate: str, chain_pem: str | None, roots: list[tuple[PublicKey, x509.Certificate]],
                         identity: Identity, now: datetime) -> tuple[str | None, object | None, str]:
    """(the accepting root's name, the leaf's public key, "") or (None, None, why not)."""
    try:
        leaf = x509.load_pem_x509_certificate(certificate.encode())
        chain = x509.load_pem_x509_certificates(chain_pem.encode())[:5] if chain_pem else []
    except ValueError:
        return None, None, "its certificate is not PEM"
    path, current, root_name = [leaf], leaf, None
    for _depth in range(6):
        root = next((r for r in roots if current.issuer == r[1].subject and _issued_by(current, r[1])), None)
        if root is not None:
            path.append(root[1])
            root_name = root[0].name
            break
        parent = next((c for c in chain if current.issuer == c.subject and c is not current and _issued_by(current, c)
                       and _is_ca(c)), None)
        if parent is None:
            return None, None, "its certificate does not chain to an accepted root"
        path.append(parent)
        current = parent
    if root_name is None:
        return None, None, "its certificate does not chain to an accepted root"
    for cert in path:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            state = "expired" if now > cert.not_valid_after_utc else "is not valid yet"
            return None, None, f"its certificate {state} (valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = []
    if ExtendedKeyUsageOID.CODE_SIGNING not in usages:
        return None, None, "its certificate is not for code signing"
    try:
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*sans.get_values_for_type(x509.UniformResourceIdentifier), *sans.get_values_for_type(x509.RFC822Name)]
    except x509.ExtensionNotFound:
        names = []
    if identity.subject and not any(re2.fullmatch(identity.subject, n) for n in names[:16]):
        return None, None, f"its certificate names {', '.join(names[:2]) or 'no subject'}, not {identity.subject}"
    issuer = _issuer_of(leaf)
    if identity.issuer and not re2.fullmatch(identity.issuer, issuer):
        return None, None, f"its certificate's issuer {issuer or '(none)'} is not {identity.issuer}"
    return root_name, leaf.public_key(), ""


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


@dataclass
class Verdict:
    """Whether a digest passes a policy, and the sentence that says why (shown and logged)."""
    ok: bool
    reason: str
    keys: list[str] = field(default_factory=list)  # names of the keys whose signature verified


def load_key(pem: str):
    """The public key in PEM (PKIX, as `cosign generate-key-pair` writes cosign.pub), or UnusableKey."""
    if not isinstance(pem, str) or not pem.strip():
        raise UnusableKey("Paste a public key in PEM (-----BEGIN PUBLIC KEY-----).")
    if len(pem) > MAX_KEY_PEM:
        raise UnusableKey(f"A public key is at most {MAX_KEY_PEM // 1024} KiB of PEM.")
    if "PRIVATE KEY" in pem:
        raise UnusableKey("That is a private key: paste the public one (cosign.pub), never the private key.")
    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise UnusableKey("This is not a PEM public key (-----BEGIN PUBLIC KEY-----).") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
            raise UnusableKey(f"Elliptic curve {key.curve.name} is not accepted (P-256, P-384 or P-521).")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise UnusableKey(f"An RSA key of {key.key_size} bits is too weak (2048 bits or more).")
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise UnusableKey("Only ECDSA, RSA and Ed25519 public keys are accepted.")
    return key


def fingerprint(pem: str) -> str:
    """SHA-256 of the key's DER SubjectPublicKeyInfo, as `sha256:<hex>`."""
    der = load_key(pem).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def normalized_pem(pem: str) -> str:
    return load_key(pem).public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _verifies(key, signature: bytes, payload: bytes) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            digest = {"secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}.get(key.curve.name, hashes.SHA256())
            key.verify(signature, payload, ec.ECDSA(digest))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(signature, payload)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def _load(keys: list[PublicKey]) -> tuple[list, list, list[str]]:
    """(public keys, root certificates, problems): each paired with its PublicKey row."""
    loaded, roots, problems = [], [], []
    for k in keys:
        try:
            if k.kind == "root":
                roots.append((k, load_root(k.pem)))
            else:
                loaded.append((k, load_key(k.pem)))
        except UnusableKey as e:
            problems.append(f"key {k.name}: {e.message}")
    return loaded, roots, problems


def _verified_blob(client, repository: str, digest: str, max_bytes: int) -> bytes | None:
    """A blob's bytes if they hash to `digest` (None: the registry served something else)."""
    data = client.blob(repository, digest, max_bytes=max_bytes)
    return data if "sha256:" + hashlib.sha256(data).hexdigest() == digest else None


def signature_tag(digest: str) -> str:
    """Where cosign stores the signatures of `digest`: sha256:abc… → sha256-abc….sig"""
    return digest.replace(":", "-", 1) + ".sig"


def read_signatures(client, repository: str, digest: str) -> tuple[list[Signature], str | None, list[str]]:
    """The signatures stored for `digest` under its .sig tag: (signatures, the signature manifest's
    digest or None when there is none, problems met reading them). Registry errors other than
    not-found propagate."""
    try:
        manifest_digest, _media_type, manifest = client.manifest(repository, signature_tag(digest))
    except RegistryNotFound:
        return [], None, []
    found, problems = signatures_in(client, repository, manifest)
    return found, manifest_digest, problems


def signatures_in(client, repository: str, manifest: dict, first: int = 0) -> tuple[list[Signature], list[str]]:
    """The simple-signing layers of one signature manifest (the .sig tag's or a referrer's),
    numbered from `first` + 1: (signatures, problems)."""
    problems: list[str] = []
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        return [], ["the signature manifest has no layers"]
    if len(layers) > MAX_LAYERS:
        problems.append(f"only the first {MAX_LAYERS} of {len(layers)} signatures were read")
    found = []
    for index, layer in enumerate(layers[:MAX_LAYERS], first + 1):
        if not isinstance(layer, dict) or layer.get("mediaType") != SIMPLE_SIGNING:
            continue
        annotations = layer.get("annotations")
        encoded = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
        blob_digest, size = layer.get("digest"), layer.get("size")
        if not isinstance(encoded, str) or not isinstance(blob_digest, str) or not _DIGEST_RE.match(blob_digest):
            problems.append(f"signature {index} is malformed (no signature or payload digest)")
            continue
        if not isinstance(size, int) or not 0 < size <= MAX_PAYLOAD:
            problems.append(f"signature {index}'s payload is not between 1 byte and {MAX_PAYLOAD // 1024} KiB")
            continue
        try:
            raw = base64.b64decode(encoded[:4096], validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"signature {index} is not base64")
            continue
        payload = _verified_blob(client, repository, blob_digest, MAX_PAYLOAD)
        if payload is None:
            problems.append(f"signature {index}'s payload does not match its digest (tampered)")
            continue
        cert, chain = _certificate_annotations(annotations)
        found.append(Signature(payload, raw, index, cert, chain))
    return found, problems


def _certificate_annotations(annotations: dict) -> tuple[str | None, str | None]:
    """A keyless signature's certificate and chain (PEM), as cosign annotates its layer."""
    cert, chain = annotations.get(CERTIFICATE_ANNOTATION), annotations.get(CHAIN_ANNOTATION)
    return (cert if isinstance(cert, str) and 0 < len(cert) <= MAX_CERT_PEM else None,
            chain if isinstance(chain, str) and 0 < len(chain) <= MAX_CERT_PEM else None)


# -- OCI 1.1 referrers: manifests whose `subject` is the image (cosign --registry-referrers-mode=oci-1-1
# signatures, and attestations as in-toto DSSE layers or Sigstore bundles) ------------------------------
SIG_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
MAX_REFERRED = 16  # referrer manifests read per digest


@dataclass
class Referred:
    """The signature and attestation manifests that refer to one digest, and problems met."""
    signatures: list[dict] = field(default_factory=list)
    attestations: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_referrers(client, repository: str, digest: str, listing: list[dict]) -> Referred:
    """Read the referrer manifests `listing` names (client.referrers) that may hold signatures or
    attestations, at most MAX_REFERRED; one naming another subject counts for nothing."""
    out = Referred()
    candidates = [d for d in listing if d.get("artifactType") in (None, SIG_ARTIFACT, INTOTO, EMPTY_CONFIG)
                  or str(d.get("artifactType")).startswith(BUNDLE_PREFIX)]
    if len(candidates) > MAX_REFERRED:
        out.problems.append(f"only {MAX_REFERRED} of {len(candidates)} referrers were read")
    for number, descriptor in enumerate(candidates[:MAX_REFERRED], 1):
        if not _DIGEST_RE.match(descriptor["digest"]):
            out.problems.append(f"referrer {number} has no usable digest")
            continue
        try:
            _d, _media_type, manifest = client.manifest(repository, descriptor["digest"])
        except RegistryNotFound:
            out.problems.append(f"referrer {number} is listed but missing")
            continue
        subject = manifest.get("subject")
        if not isinstance(subject, dict) or subject.get("digest") != digest:
            out.problems.append(f"referrer {number} is about another image")
            continue
        config = manifest.get("config")
        kind = manifest.get("artifactType") or (config.get("mediaType") if isinstance(config, dict) else None)
        if kind == SIG_ARTIFACT:
            out.signatures.append(manifest)
        elif kind == INTOTO or str(kind).startswith(BUNDLE_PREFIX):
            out.attestations.append(manifest)
    return out



def _payload_digest(payload: bytes) -> tuple[str | None, str | None]:
    """(the image digest a simple-signing payload names, or None with the reason)."""
    try:
        data = json.loads(payload)
        critical = data["critical"]
        if critical["type"] != PAYLOAD_TYPE:
            return None, f"a payload of type {str(critical['type'])[:60]!r}, not a cosign image signature"
        named = critical["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None, "a payload that is not a cosign simple-signing document"
    if not isinstance(named, str):
        return None, "a payload that names no image digest"
    return named, None


def evaluate(keys: list[PublicKey], threshold: int, digest: str, signatures: list[Signature],
             problems: list[str] | None = None, identity: Identity = Identity(), now: datetime | None = None
             ) -> Verdict:
    """Whether at least `threshold` of `keys` signed exactly `digest`. A key counts once however many
    of its signatures there are; a signature whose payload names another digest (copied from
    another image) or that no accepted key verifies counts for nothing, and is said."""
    problems = list(problems or [])
    loaded, roots, unusable = _load(keys)
    problems += unusable
    now = now or datetime.now(UTC)
    signed_by: dict[str, str] = {}  # fingerprint → name
    for sig in signatures:
        # Only a payload an accepted key signed is read: what nobody signed is never parsed.
        matched = [(k, key) for k, key in loaded if _verifies(key, sig.signature, sig.payload)]
        if not matched and sig.certificate and roots:
            root_name, leaf_key, why = _certificate_problem(sig.certificate, sig.chain, roots, identity, now)
            if root_name is None:
                problems.append(f"signature {sig.layer}: {why}")
                continue
            if not _verifies(leaf_key, sig.signature, sig.payload):
                problems.append(f"signature {sig.layer} does not verify with its certificate")
                continue
            matched = [(next(k for k, _c in roots if k.name == root_name), leaf_key)]
        if not matched:
            problems.append(f"signature {sig.layer} does not verify with any accepted key")
            continue
        named, why = _payload_digest(sig.payload)
        if named is None:
            problems.append(f"signature {sig.layer} by {matched[0][0].name}: {why}")
            continue
        if named != digest:
            problems.append(f"signature {sig.layer} by {matched[0][0].name} is for another image ({named[:19]}…), "
                            "copied from another digest")
            continue
        for k, _key in matched:
            signed_by.setdefault(k.fingerprint, k.name)
    names = sorted(signed_by.values())
    need = min(threshold, len(keys)) if keys else threshold
    if not signatures and not problems:
        return Verdict(False, f"refused: no cosign signature for {digest[:19]}… (no {signature_tag(digest)[:20]}… "
                       "tag and no signature among its referrers)", names)
    if len(signed_by) >= need and need > 0:
        return Verdict(True, f"signed by {len(signed_by)} of the {need} required keys ({', '.join(names)})", names)
    detail = f"; {'; '.join(problems[:4])}" if problems else ""
    return Verdict(False, f"refused: signed by {len(signed_by)} of the {need} required keys"
                   + (f" ({', '.join(names)})" if names else "") + detail, names)


# -- attestations: in-toto statements in DSSE envelopes, under sha256-<hex>.att ---------------------
DSSE = "application/vnd.dsse.envelope.v1+json"
INTOTO = "application/vnd.in-toto+json"
MAX_ENVELOPE = 1024 * 1024
MAX_FINDINGS = 20_000
SEVERITIES = ("low", "medium", "high", "critical")
# `cosign attest --type <name>` → the predicate type it writes (a URI names any other type).
PREDICATE_TYPES = {
    "vuln": ("https://cosign.sigstore.dev/attestation/vuln/v1",),
    "sbom": ("https://spdx.dev/Document", "https://cyclonedx.org/bom"),
    "spdx": ("https://spdx.dev/Document",),
    "cyclonedx": ("https://cyclonedx.org/bom",),
    "slsaprovenance": ("https://slsa.dev/provenance/v0.2", "https://slsa.dev/provenance/v1"),
    "openvex": ("https://openvex.dev/ns",),
    "custom": ("https://cosign.sigstore.dev/attestation/v1",),
}
_URI_RE = re.compile(r"^https?://[\x21-\x7e]{1,240}$")


class UnusableRequirement(BerthError):
    """A required attestation Berth cannot read; the message names the line."""


@dataclass(frozen=True)
class Requirement:
    """An attestation a digest must carry: one of `types`, and for a vulnerability scan no finding at
    or above `below` (None: any scan result)."""
    name: str
    types: tuple[str, ...]
    below: str | None = None

    @property
    def text(self) -> str:
        return self.name + (f" below {self.below}" if self.below else "")


def parse_requirements(text: str) -> list[Requirement]:
    """One requirement per line: `vuln`, `vuln below high`, `sbom`, `spdx`, `cyclonedx`,
    `slsaprovenance`, `openvex`, `custom`, or a predicate type URI."""
    out = []
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > 10:
        raise UnusableRequirement("At most 10 required attestations.")
    for number, line in enumerate(lines, 1):
        words = line.split()
        name = words[0].lower() if not _URI_RE.match(words[0]) else words[0]
        below = None
        if len(words) == 3 and words[1].lower() == "below" and name == "vuln":
            below = words[2].lower()
            if below not in SEVERITIES[1:]:
                raise UnusableRequirement(f"Line {number}: a scan may be required below medium, high or critical.")
        elif len(words) != 1:
            raise UnusableRequirement(f"Line {number}: write a type alone (e.g. sbom), or vuln below <severity>.")
        if name in PREDICATE_TYPES:
            out.append(Requirement(name, PREDICATE_TYPES[name], below))
        elif _URI_RE.match(name):
            out.append(Requirement(name, (name,)))
        else:
            raise UnusableRequirement(f"Line {number}: {line[:40]!r} is not an attestation type "
                                      f"({', '.join(PREDICATE_TYPES)}, or a predicate type URI).")
    return out


@dataclass
class Statement:
    predicate_type: str
    predicate: dict
    layer: int
    signer: str


def attestation_tag(digest: str) -> str:
    return digest.replace(":", "-", 1) + ".att"


def _pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what an envelope's signatures sign."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def read_attestations(client, repository: str, digest: str, keys: list[PublicKey], identity: Identity = Identity(),
                      now: datetime | None = None) -> tuple[list[Statement], str | None, list[str]]:
    """The in-toto statements about `digest` under its .att tag signed by one of `keys` (or by a
    certificate from one of its roots naming `identity`): (statements, the attestation manifest's
    digest or None, problems). Envelopes nobody accepted signed are never parsed further."""
    try:
        manifest_digest, _media_type, manifest = client.manifest(repository, attestation_tag(digest))
    except RegistryNotFound:
        return [], None, []
    statements, problems = statements_in(client, repository, digest, manifest, keys, identity, now)
    return statements, manifest_digest, problems


def statements_in(client, repository: str, digest: str, manifest: dict, keys: list[PublicKey],
                  identity: Identity = Identity(), now: datetime | None = None, first: int = 0
                  ) -> tuple[list[Statement], list[str]]:
    """The statements of one attestation manifest (the .att tag's or a referrer's): DSSE envelope
    layers, or Sigstore bundles holding one, numbered from `first` + 1."""
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        return [], ["the attestation manifest has no layers"]
    signers = _Signers(keys, identity, now or datetime.now(UTC))
    problems, statements = list(signers.problems), []
    for index, layer in enumerate(layers[:MAX_LAYERS], first + 1):
        media_type = layer.get("mediaType") if isinstance(layer, dict) else None
        bundle = isinstance(media_type, str) and media_type.startswith(BUNDLE_PREFIX)
        if media_type != DSSE and not bundle:
            continue
        blob_digest, size = layer.get("digest"), layer.get("size")
        if not isinstance(blob_digest, str) or not _DIGEST_RE.match(blob_digest) or not isinstance(size, int) \
                or not 0 < size <= MAX_ENVELOPE:
            problems.append(f"attestation {index} is malformed (digest or size)")
            continue
        data = _verified_blob(client, repository, blob_digest, MAX_ENVELOPE)
        if data is None:
            problems.append(f"attestation {index} does not match its digest (tampered)")
            continue
        annotations = layer.get("annotations")
        cert, chain = _certificate_annotations(annotations) if isinstance(annotations, dict) else (None, None)
        envelope, why = (_bundle_envelope(data) if bundle else _json_object(data, "is not a DSSE envelope"))
        if envelope is not None and bundle:
            envelope, cert, chain = envelope
        statement, why = (_open_envelope(envelope, signers, digest, cert, chain) if envelope is not None
                          else (None, why))
        if statement is None:
            problems.append(f"attestation {index} {why}")
            continue
        statement.layer = index
        statements.append(statement)
    return statements, problems


class _Signers:
    """The policy's keys and roots loaded once, asked who signed a DSSE envelope."""

    def __init__(self, keys: list[PublicKey], identity: Identity, now: datetime):
        self.loaded, self.roots, self.problems = _load(keys)
        self.identity, self.now = identity, now

    def signer(self, raw: bytes, signed: bytes, cert: str | None, chain: str | None) -> tuple[str | None, str]:
        """(the accepted key or root that made `raw` over `signed`, "") or (None, why not)."""
        name = next((k.name for k, key in self.loaded if _verifies(key, raw, signed)), None)
        if name is not None or not (cert and self.roots):
            return name, ""
        root_name, leaf_key, why = _certificate_problem(cert, chain, self.roots, self.identity, self.now)
        if root_name is None:
            return None, why
        return (root_name, "") if _verifies(leaf_key, raw, signed) else (None, "does not verify with its certificate")


def _json_object(data: bytes, why: str) -> tuple[dict | None, str]:
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return None, why
    return (parsed, "") if isinstance(parsed, dict) else (None, why)


def _bundle_envelope(data: bytes) -> tuple[tuple[dict, str | None, str | None] | None, str]:
    """A Sigstore bundle's DSSE envelope and its signing certificate and chain (PEM; None when the
    bundle names a key instead)."""
    bundle, why = _json_object(data, "is not a Sigstore bundle")
    envelope = bundle.get("dsseEnvelope") if bundle else None
    if not isinstance(envelope, dict):
        return None, why or "is a Sigstore bundle without a DSSE envelope"
    material = bundle.get("verificationMaterial")
    material = material if isinstance(material, dict) else {}
    chain_field = material.get("x509CertificateChain")
    certificates = [material.get("certificate")] if isinstance(material.get("certificate"), dict) else (
        chain_field.get("certificates") if isinstance(chain_field, dict) else None)
    pems = []
    for entry in (certificates if isinstance(certificates, list) else [])[:5]:
        raw = entry.get("rawBytes") if isinstance(entry, dict) else None
        try:
            der = base64.b64decode(raw[:MAX_CERT_PEM], validate=True) if isinstance(raw, str) else b""
            pems.append(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode())
        except (binascii.Error, ValueError):
            return None, "carries a certificate that is not DER"
    return (envelope, pems[0] if pems else None, "".join(pems[1:]) or None), ""


def _open_envelope(envelope: dict, signers: _Signers, digest: str, cert: str | None = None,
                   chain: str | None = None) -> tuple[Statement | None, str]:
    try:
        payload_type, encoded, signatures = envelope["payloadType"], envelope["payload"], envelope["signatures"]
        if not (isinstance(payload_type, str) and isinstance(encoded, str) and isinstance(signatures, list)):
            raise TypeError
        body = base64.b64decode(encoded, validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None, "is not a DSSE envelope"
    signed = _pae(payload_type, body)
    signer, why = None, ""
    for entry in signatures[:8]:
        try:
            raw = base64.b64decode(entry["sig"][:4096], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            continue
        signer, why = signers.signer(raw, signed, cert, chain)
        if signer:
            break
    if signer is None:
        return None, f"is not signed by an accepted key{f' ({why})' if why else ''}"
    if payload_type != INTOTO:
        return None, f"by {signer} carries {payload_type[:60]!r}, not an in-toto statement"
    try:
        statement = json.loads(body)
        predicate_type, predicate = statement["predicateType"], statement["predicate"]
        subjects = statement["subject"]
        named = {s["digest"].get("sha256") for s in subjects[:64]
                 if isinstance(s, dict) and isinstance(s.get("digest"), dict)}
    except (ValueError, KeyError, TypeError, RecursionError):
        return None, f"by {signer} is not an in-toto statement"
    if digest.removeprefix("sha256:") not in named:
        return None, f"by {signer} is about another image, copied from another digest"
    if not isinstance(predicate_type, str) or not isinstance(predicate, dict):
        return None, f"by {signer} has no predicate"
    return Statement(predicate_type[:200], predicate, 0, signer), ""



def findings(predicate: dict) -> list[tuple[str, str]]:
    """(id, severity) of each finding a vulnerability-scan predicate lists: Trivy's JSON (Results →
    Vulnerabilities) or Grype's (matches → vulnerability) as the scanner's result."""
    result = (predicate.get("scanner") or {}).get("result") if isinstance(predicate.get("scanner"), dict) else None
    out: list[tuple[str, str]] = []
    if not isinstance(result, dict):
        return out
    for target in result.get("Results") or []:
        vulns = target.get("Vulnerabilities") if isinstance(target, dict) else None
        for v in vulns if isinstance(vulns, list) else []:
            if isinstance(v, dict) and len(out) < MAX_FINDINGS:
                out.append((str(v.get("VulnerabilityID", "?"))[:60], str(v.get("Severity", "")).lower()))
    for match in result.get("matches") or []:
        v = match.get("vulnerability") if isinstance(match, dict) else None
        if isinstance(v, dict) and len(out) < MAX_FINDINGS:
            out.append((str(v.get("id", "?"))[:60], str(v.get("severity", "")).lower()))
    return out


def check_attestations(requirements: list[Requirement], statements: list[Statement]) -> list[str]:
    """What the statements lack for the requirements (empty: all met). A scan requirement reads the
    newest scan (its metadata.scanFinishedOn)."""
    missing = []
    for req in requirements:
        matching = [s for s in statements if s.predicate_type in req.types]
        if not matching:
            missing.append(f"no {req.name} attestation signed by an accepted key")
            continue
        if req.below:
            newest = max(matching, key=lambda s: str((s.predicate.get("metadata") or {}).get("scanFinishedOn", ""))
                         if isinstance(s.predicate.get("metadata"), dict) else "")
            limit = SEVERITIES.index(req.below)
            bad = [(i, sev) for i, sev in findings(newest.predicate) if sev in SEVERITIES
                   and SEVERITIES.index(sev) >= limit]
            if bad:
                shown = ", ".join(f"{i} ({sev})" for i, sev in bad[:3]) + (f" and {len(bad) - 3} more"
                                                                           if len(bad) > 3 else "")
                missing.append(f"attestation {req.name} by {newest.signer} lists {shown}, at or above {req.below}")
    return missing
