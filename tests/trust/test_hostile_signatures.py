"""What a registry answers about signatures is as hostile as what a person types: malformed
manifests, annotations that are not base64, payloads of hostile size, nesting and encoding, keys
that are not keys. Each is a refusal with a reason, never an exception out of the gate, a 500 or a
stuck delivery. Manifests Distribution stores are pushed to the real registry; the few it refuses
to store (a hostile registry could still serve them) come from `HostileRegistry`, a stand-in that
answers `manifest`/`blob` as a client would return them, and says it is one."""
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
