"""What a registry answers about signatures is as hostile as what a person types: malformed
manifests, annotations that are not base64, payloads of hostile size, nesting and encoding, keys
that are not keys, DSSE envelopes and Sigstore bundles of hostile shape. Each is a refusal with a
reason, never an exception out of the gate, a 500 or a stuck delivery. Manifests Distribution
stores are pushed to the real registry; the few it refuses to store (a hostile registry could still
serve them) come from `HostileRegistry`, a stand-in that answers `manifest`/`blob` as a client would
return them, and says it is one."""
from __future__ import annotations

import base64
import json

import pytest

from services.registries.clients.errors import RegistryNotFound
from services.trust import cosign
from tests.fixtures.images import Blob, Image
from tests.trust.conftest import new_repo

PAYLOAD = cosign.SIMPLE_SIGNING


def _layer(blob: Blob, signature: str = "MEUCIQ==") -> dict:
    return {"mediaType": PAYLOAD, "digest": blob.digest, "size": len(blob.data),
            "annotations": {cosign.SIGNATURE_ANNOTATION: signature}}


def _payload(digest: str, **critical) -> bytes:
    body = {"critical": {"identity": {"docker-reference": "x"}, "image": {"docker-manifest-digest": digest},
                         "type": cosign.PAYLOAD_TYPE, **critical}, "optional": None}
    return json.dumps(body).encode()


def _push_signature(trust, repo: str, digest: str, payloads: list[bytes], signature: str = "MEUCIQ==") -> None:
    config = Blob(b"{}", "application/vnd.oci.image.config.v1+json")
    trust.pusher.blob(repo, config)
    layers = []
    for data in payloads:
        blob = Blob(data, PAYLOAD)
        trust.pusher.blob(repo, blob)
        layers.append(_layer(blob, signature))
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config.descriptor(), "layers": layers}
    trust.pusher.manifest(repo, cosign.signature_tag(digest), json.dumps(manifest).encode())


SIGNED = object()  # a well-formed payload naming the image (with a signature no key made)


@pytest.mark.parametrize("payloads, signature, words", [
    ([b"not json at all"], "MEUCIQ==", "signature 1 does not verify with any accepted key"),
    ([b"[" * 5000 + b"]" * 5000], "MEUCIQ==", "signature 1 does not verify with any accepted key"),
    ([b"\xff\xfe\x00\xed\xa0\x80"], "MEUCIQ==", "signature 1 does not verify with any accepted key"),
    ([b"A" * (70 * 1024)], "MEUCIQ==", "payload is not between 1 byte and 64 KiB"),
    ([SIGNED], "not base64 !!", "signature 1 is not base64"),
    ([SIGNED] * 40, "MEUCIQ==", "only the first 32 of 40 signatures were read"),
])
def test_hostile_signatures_in_the_real_registry_are_refused_with_a_reason(app, trust, payloads, signature, words):
    repo = new_repo()
    digest = trust.pusher.push(repo, "v1", Image(content="v1"))
    data = [_payload(digest) + b" " * i if p is SIGNED else p for i, p in enumerate(payloads)]
    _push_signature(trust, repo, digest, data, signature)
    cid = trust.component(repo, "v1", trust.policy(["release"], 1))
    verdict = trust.verdict(cid, digest)
    assert not verdict.ok and verdict.reason.startswith("refused: signed by 0 of the 1 required keys")
    assert words in verdict.reason


class HostileRegistry:
    """A stand-in for a registry that serves what Distribution would not store (not a real part)."""

    def __init__(self, manifest, blobs: dict[str, bytes] | None = None):
        self._manifest, self._blobs = manifest, blobs or {}

    def manifest(self, repository, reference):
        if self._manifest is None:
            raise RegistryNotFound("no such manifest")
        return "sha256:" + "e" * 64, "application/vnd.oci.image.manifest.v1+json", self._manifest

    def blob(self, repository, digest, max_bytes):
        return self._blobs.get(digest, b"")


@pytest.mark.parametrize("manifest, words", [
    ({"layers": "everything"}, "the signature manifest has no layers"),
    ({"layers": None}, "the signature manifest has no layers"),
    ({"layers": [1, "two", None, []]}, "refused: no cosign signature"),
    ({"layers": [{"mediaType": PAYLOAD, "digest": "sha256:../../etc", "size": 3,
                  "annotations": {cosign.SIGNATURE_ANNOTATION: "MEUCIQ=="}}]}, "no signature or payload digest"),
    ({"layers": [{"mediaType": PAYLOAD, "digest": "sha256:" + "a" * 64, "size": "3",
                  "annotations": {cosign.SIGNATURE_ANNOTATION: "MEUCIQ=="}}]}, "payload is not between"),
    ({"layers": [{"mediaType": PAYLOAD, "digest": "sha256:" + "a" * 64, "size": 3,
                  "annotations": ["not", "a", "map"]}]}, "no signature or payload digest"),
    ({"layers": [{"mediaType": PAYLOAD, "digest": "sha256:" + "a" * 64, "size": 3,
                  "annotations": {cosign.SIGNATURE_ANNOTATION: "MEUCIQ=="}}]}, "does not match its digest (tampered)"),
])
def test_malformed_signature_manifests_are_refused_with_a_reason(signing_keys, manifest, words):
    keys = [cosign.PublicKey("release", signing_keys["release"][1])]
    signatures, _digest, problems = cosign.read_signatures(HostileRegistry(manifest), "team/x", "sha256:" + "0" * 64)
    verdict = cosign.evaluate(keys, 1, "sha256:" + "0" * 64, signatures, problems)
    assert not verdict.ok and words in verdict.reason


@pytest.mark.parametrize("payload", [
    b'{"critical": "flat"}', b'{"critical": {"type": ["list"]}}', b"1e999999", b'{"critical": {"type": "' +
    cosign.PAYLOAD_TYPE.encode() + b'", "image": {"docker-manifest-digest": 7}}}', b"\xff\xfe\x00",
])
def test_payloads_of_hostile_shape_name_no_digest(signing_keys, payload):
    keys = [cosign.PublicKey("release", signing_keys["release"][1])]
    signature = cosign.Signature(payload, base64.b64decode("MEUCIQ=="), 1)
    verdict = cosign.evaluate(keys, 1, "sha256:" + "0" * 64, [signature])
    assert not verdict.ok and verdict.reason.startswith("refused: signed by 0 of the 1 required keys; signature 1")


# -- attestations: DSSE envelopes and Sigstore bundles of hostile shape --------------------------------
DIGEST = "sha256:" + "0" * 64


def _own_key():
    """A key made here (cosign's encrypted private keys are not read by the tests): (private, PublicKey)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, cosign.PublicKey("ci", pem)


def _envelope(private, body: bytes, payload_type: str = cosign.INTOTO) -> dict:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    signature = private.sign(cosign._pae(payload_type, body), ec.ECDSA(hashes.SHA256()))
    return {"payloadType": payload_type, "payload": base64.b64encode(body).decode(),
            "signatures": [{"sig": base64.b64encode(signature).decode()}]}


def _statement(subject: str = DIGEST, predicate=None) -> bytes:
    return json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://cyclonedx.org/bom",
                       "subject": [{"name": "x", "digest": {"sha256": subject.removeprefix("sha256:")}}],
                       "predicate": {"bomFormat": "CycloneDX"} if predicate is None else predicate}).encode()


HOSTILE_ENVELOPES = [
    (lambda k: b"not json", cosign.DSSE, "is not a DSSE envelope"),
    (lambda k: b"[" * 200_000, cosign.DSSE, "is not a DSSE envelope"),
    (lambda k: json.dumps({"payloadType": 1, "payload": "", "signatures": []}).encode(), cosign.DSSE,
     "is not a DSSE envelope"),
    (lambda k: json.dumps({"payloadType": cosign.INTOTO, "payload": "%%%", "signatures": []}).encode(), cosign.DSSE,
     "is not a DSSE envelope"),
    (lambda k: json.dumps({"payloadType": cosign.INTOTO, "payload": "e30=",
                           "signatures": [{"sig": "MEUCIQ=="}, "x", {"sig": 7}]}).encode(), cosign.DSSE,
     "is not signed by an accepted key"),
    (lambda k: json.dumps(_envelope(k, _statement(), "text/plain")).encode(), cosign.DSSE,
     "carries 'text/plain', not an in-toto statement"),
    (lambda k: json.dumps(_envelope(k, b"{" * 50_000)).encode(), cosign.DSSE, "is not an in-toto statement"),
    (lambda k: json.dumps(_envelope(k, _statement("sha256:" + "1" * 64))).encode(), cosign.DSSE,
     "is about another image, copied from another digest"),
    (lambda k: json.dumps(_envelope(k, _statement(predicate=["a", "list"]))).encode(), cosign.DSSE,
     "has no predicate"),
    (lambda k: b"\xff\xfe\x00 not utf-8", cosign.BUNDLE_PREFIX + ".v0.3+json", "is not a Sigstore bundle"),
    (lambda k: json.dumps({"mediaType": "x", "dsseEnvelope": "flat"}).encode(), cosign.BUNDLE_PREFIX + ".v0.3+json",
     "is a Sigstore bundle without a DSSE envelope"),
    (lambda k: json.dumps({"dsseEnvelope": _envelope(k, _statement()), "verificationMaterial": {
        "certificate": {"rawBytes": base64.b64encode(b"not DER").decode()}}}).encode(),
     cosign.BUNDLE_PREFIX + ".v0.3+json", "carries a certificate that is not DER"),
]


@pytest.mark.parametrize("make, media_type, words", HOSTILE_ENVELOPES)
def test_hostile_envelopes_and_bundles_are_refused_with_a_reason(make, media_type, words):
    private, key = _own_key()
    data = make(private)
    blob = Blob(data, media_type)
    manifest = {"layers": [{"mediaType": media_type, "digest": blob.digest, "size": len(data)}]}
    statements, problems = cosign.statements_in(HostileRegistry(None, {blob.digest: data}), "team/x", DIGEST,
                                                manifest, [key])
    assert statements == [] and len(problems) == 1 and words in problems[0], problems


def test_an_envelope_that_is_too_large_or_not_what_its_digest_says_is_not_read():
    private, key = _own_key()
    data = json.dumps(_envelope(private, _statement())).encode()
    blob = Blob(data, cosign.DSSE)
    layers = [{"mediaType": cosign.DSSE, "digest": blob.digest, "size": 64 * 1024 * 1024},
              {"mediaType": cosign.DSSE, "digest": "sha256:" + "f" * 64, "size": len(data)},
              {"mediaType": cosign.DSSE, "digest": blob.digest, "size": len(data)}]
    statements, problems = cosign.statements_in(HostileRegistry(None, {blob.digest: data, "sha256:" + "f" * 64: data}),
                                                "team/x", DIGEST, {"layers": layers}, [key])
    assert problems == ["attestation 1 is malformed (digest or size)",
                        "attestation 2 does not match its digest (tampered)"]
    assert [(s.layer, s.signer) for s in statements] == [(3, "ci")]


@pytest.mark.parametrize("result", ["flat", {"Results": "x"}, {"Results": [{"Vulnerabilities": {"a": 1}}]},
                                    {"matches": [None, {"vulnerability": []}, {"vulnerability": {"severity": 9}}]},
                                    {"Results": [{"Vulnerabilities": [{"Severity": ["CRITICAL"]}]}]}])
def test_scan_results_of_hostile_shape_find_nothing_instead_of_failing(result):
    statement = cosign.Statement("https://cosign.sigstore.dev/attestation/vuln/v1",
                                 {"scanner": {"result": result}, "metadata": "flat"}, 1, "ci")
    assert cosign.check_attestations(cosign.parse_requirements("vuln below high"), [statement]) == []
