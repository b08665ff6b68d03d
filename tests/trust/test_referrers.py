"""Signatures and attestations found as OCI 1.1 referrers (#28): the real cosign pushes them as
manifests whose subject is the image (--registry-referrers-mode=oci-1-1, and attestations as
Sigstore bundles with --new-bundle-format). Debian's registry has no referrers API, so cosign keeps
them in the referrers tag schema's index (tag sha256-<hex>), which Berth reads; a stand-in in front
of the real registry serves the referrers API itself. Keyless attestations carry a certificate from
the team's root."""
from __future__ import annotations

import json

import pytest

from tests.fixtures.cosign import LocalCA, vuln_scan
from tests.fixtures.fakes import ReferrersApiFront
from tests.fixtures.images import OCI_INDEX, Image
from tests.helpers import create_component, create_registry
from tests.trust.conftest import new_repo

pytestmark = [pytest.mark.registry]
CI = r"https://ci\.example\.com/.*"
SBOM = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}


def _tags(trust, repo: str) -> list[str]:
    return trust.pusher._request("GET", f"{trust.pusher.base}/v2/{repo}/tags/list", repo).json()["tags"]


def test_signatures_pushed_as_referrers_are_read_from_the_tag_schema_index(app, trust):
    repo = new_repo()
    digest = trust.pusher.push(repo, "v1", Image(content="v1"))
    cid = trust.component(repo, "v1", trust.policy(["release"], 1))
    assert trust.verdict(cid, digest).reason.startswith("refused: no cosign signature")

    trust.sign_referrer("release", repo, digest)
    assert sorted(_tags(trust, repo)) == sorted(["v1", digest.replace(":", "-")])  # no .sig tag: the index
    verdict = trust.verdict(cid, digest)  # the refusal is decided again: the referrers changed
    assert verdict.ok and verdict.reason == "signed by 1 of the 1 required keys (release)"

    # Two of two: a .sig tag signature by one key and a referrer by the other count together; the
    # same key's second referrer counts once.
    both = trust.component(repo, "v1", trust.policy(["release", "qa"], 2))
    trust.sign_referrer("release", repo, digest)
    assert trust.verdict(both, digest).reason.startswith("refused: signed by 1 of the 2 required keys (release)")
    trust.sign("qa", repo, digest)
    assert trust.verdict(both, digest).reason == "signed by 2 of the 2 required keys (qa, release)"


def test_a_referrer_listed_for_another_image_counts_for_nothing(app, trust):
    repo = new_repo()
    signed = trust.pusher.push(repo, "v1", Image(content="v1"))
    other = trust.pusher.push(repo, "v2", Image(content="v2"))
    trust.sign_referrer("release", repo, signed)
    r = trust.pusher._request("GET", f"{trust.pusher.base}/v2/{repo}/manifests/{signed.replace(':', '-')}", repo,
                              headers={"Accept": OCI_INDEX})
    # A hostile push lists the first image's signature among the second's referrers.
    trust.pusher.manifest(repo, other.replace(":", "-"), json.dumps(r.json()).encode(), OCI_INDEX)
    cid = trust.component(repo, "v2", trust.policy(["release"], 1))
    verdict = trust.verdict(cid, other)
    assert not verdict.ok and "referrer 1 is about another image" in verdict.reason


def test_attestations_in_sigstore_bundles_are_read_from_the_referrers(app, trust):
    repo = new_repo()
    digest = trust.pusher.push(repo, "v1", Image(content="v1"))
    trust.sign("release", repo, digest)
    cid = trust.component(repo, "v1", trust.policy(["release"], 1, attestations="vuln below high\nsbom"))
    trust.attest("release", repo, digest, "vuln", vuln_scan(("CVE-2026-0101", "critical")), "--new-bundle-format")
    assert trust.verdict(cid, digest).reason.startswith(
        "refused: attestation vuln by release lists CVE-2026-0101 (critical), at or above high; "
        "no sbom attestation signed by an accepted key")

    trust.attest("release", repo, digest, "vuln", vuln_scan(finished="2026-12-05T10:00:00Z"), "--new-bundle-format")
    trust.attest("stranger", repo, digest, "cyclonedx", SBOM, "--new-bundle-format")
    refused = trust.verdict(cid, digest)
    assert refused.reason.startswith("refused: no sbom attestation signed by an accepted key")
    trust.attest("release", repo, digest, "cyclonedx", SBOM, "--new-bundle-format")
    verdict = trust.verdict(cid, digest)
    assert verdict.ok and verdict.reason.endswith("attested: vuln below high, sbom")


def test_a_registry_with_the_referrers_api_is_asked_through_it(app, trust, registries):
    front = ReferrersApiFront(registries.basic.url)
    try:
        registry_id, _ = create_registry(app, front.url)
        repo = new_repo()
        digest = trust.pusher.push(repo, "v1", Image(content="v1"))
        trust.sign_referrer("release", repo, digest)
        trust.attest("release", repo, digest, "cyclonedx", SBOM, "--new-bundle-format")
        cid = create_component(app, registry_id, repo, "v1", release=False, memory_mb=32,
                               trust_policy_id=trust.policy(["release"], 1, attestations="sbom"))
        verdict = trust.verdict(cid, digest)
        assert verdict.ok and verdict.reason == "signed by 1 of the 1 required keys (release); attested: sbom"
        assert front.calls_to(f"/referrers/{digest}") >= 1
        assert not any(p.endswith(digest.replace(":", "-")) for _m, p in front.server.calls)  # no tag schema
    finally:
        front.stop()


def test_attestations_signed_with_a_certificate_from_the_teams_root(app, trust, signing_keys):
    ca = LocalCA()
    trust.root("fulcio-root", ca.pem)
    repo = new_repo()
    digest = trust.pusher.push(repo, "v1", Image(content="v1"))
    public = signing_keys["stranger"][1]
    certificate = ca.issue(public, uri="https://ci.example.com/build/7")
    trust.sign_keyless("stranger", certificate, ca.pem, repo, digest)
    cid = trust.component(repo, "v1", trust.policy(["fulcio-root"], 1, subject=CI, attestations="sbom"))
    trust.attest_keyless("stranger", ca.issue(public, uri="https://evil.example.com/x"), ca.pem, repo, digest,
                         "cyclonedx", SBOM)
    refused = trust.verdict(cid, digest)
    assert refused.reason.startswith("refused: no sbom attestation signed by an accepted key; attestation 1 is not "
                                     "signed by an accepted key (its certificate names https://evil.example.com/x")

    trust.attest_keyless("stranger", certificate, ca.pem, repo, digest, "cyclonedx", SBOM)
    verdict = trust.verdict(cid, digest)
    assert verdict.ok and verdict.reason == "signed by 1 of the 1 required keys (fulcio-root); attested: sbom"
