"""Attestations (#28): in-toto statements attached with the real `cosign attest` (DSSE envelopes
under sha256-<hex>.att, no transparency log), required by a policy and read by Berth offline: a
vulnerability scan with no finding at or above a severity, an SBOM, signed by an accepted key and
about this very digest."""
from __future__ import annotations

import json

from tests.fixtures.cosign import vuln_scan
from tests.fixtures.images import OCI_MANIFEST, Image
from tests.trust.conftest import new_repo


def test_a_scan_with_a_critical_finding_is_refused_until_a_clean_newer_scan_is_attested(app, trust):
    repo = new_repo()
    digest = trust.pusher.push(repo, "v1", Image(content="v1"))
    trust.sign("release", repo, digest)
    cid = trust.component(repo, "v1", trust.policy(["release"], 1, attestations="vuln below high"))
    assert trust.verdict(cid, digest).reason == "refused: no vuln attestation signed by an accepted key"

    trust.attest("release", repo, digest, "vuln", vuln_scan(("CVE-2026-0001", "critical"), ("CVE-2026-0002", "low"),
                                                            finished="2026-12-01T10:00:00Z"))
    assert trust.verdict(cid, digest).reason == (
        "refused: attestation vuln by release lists CVE-2026-0001 (critical), at or above high")

    # A clean scan by a key the policy does not accept changes nothing.
    trust.attest("stranger", repo, digest, "vuln", vuln_scan(finished="2026-12-02T10:00:00Z"))
    refused = trust.verdict(cid, digest)
    assert refused.reason.startswith("refused: attestation vuln by release lists CVE-2026-0001 (critical)")
    assert "is not signed by an accepted key" in refused.reason

    trust.attest("release", repo, digest, "vuln", vuln_scan(("CVE-2026-0002", "medium"),
                                                            finished="2026-12-03T10:00:00Z"))
    verdict = trust.verdict(cid, digest)
    assert verdict.ok and verdict.reason == "signed by 1 of the 1 required keys (release); attested: vuln below high"


def test_an_sbom_is_required_and_an_attestation_copied_from_another_digest_counts_for_nothing(app, trust):
    repo = new_repo()
    first = trust.pusher.push(repo, "v1", Image(content="v1"))
    second = trust.pusher.push(repo, "v2", Image(content="v2"))
    for digest in (first, second):
        trust.sign("release", repo, digest)
    cid = trust.component(repo, "v1", trust.policy(["release"], 1, attestations="sbom"))
    trust.attest("release", repo, first, "cyclonedx", {"bomFormat": "CycloneDX", "specVersion": "1.5",
                                                       "components": []})
    assert trust.verdict(cid, first).ok

    r = trust.pusher._request("GET", f"{trust.pusher.base}/v2/{repo}/manifests/{first.replace(':', '-')}.att", repo,
                              headers={"Accept": OCI_MANIFEST})
    trust.pusher.manifest(repo, second.replace(":", "-") + ".att", json.dumps(r.json()).encode())
    verdict = trust.verdict(cid, second)
    assert verdict.reason == ("refused: no sbom attestation signed by an accepted key; "
                              "attestation 1 by release is about another image, copied from another digest")


def test_a_required_attestation_berth_cannot_read_is_a_field_error(app, client, auth, trust):
    auth.signed_in()
    for text, words in (("vuln below nothing", "a scan may be required below medium, high or critical"),
                        ("sbom please", "write a type alone"), ("provenance", "is not an attestation type"),
                        ("\n".join(["sbom"] * 11), "At most 10 required attestations")):
        r = client.post("/trust/policies/new", data={"name": "p", "key_ids": [trust.keys["release"]], "threshold": 1,
                                                    "attestations": text})
        assert r.status_code == 422 and words in r.get_data(as_text=True), text
