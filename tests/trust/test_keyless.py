"""Keyless signatures (#28): certificates issued by a local CA standing in for Fulcio (code-signing
EKU, a SAN URI or email, the OIDC issuer extension), used by the real cosign's certificate flags;
Berth checks the chain to the team's root, the validity, the usage, the subject and the issuer."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from models import Component, TrustPolicy, db
from services.registries import images
from services.trust import cosign as trust_cosign
from services.trust import policies
from tests.fixtures.cosign import LocalCA
from tests.fixtures.images import OCI_MANIFEST, Image
from tests.trust.conftest import new_repo

CI = r"https://ci\.example\.com/.*"


def test_a_certificate_from_the_teams_root_naming_the_right_subject_and_issuer_passes(app, trust, signing_keys):
    ca = LocalCA()
    trust.root("fulcio-root", ca.pem)
    repo = new_repo()
    digest = trust.pusher.push(repo, "v1", Image(content="v1"))
    public = signing_keys["stranger"][1]  # a key no policy accepts by itself: the certificate vouches for it
    trust.sign_keyless("stranger", ca.issue(public, uri="https://ci.example.com/build/42"), ca.pem, repo, digest)
    cid = trust.component(repo, "v1", trust.policy(["fulcio-root"], 1, subject=CI,
                                                   issuer=r"https://issuer\.example\.com"))
    verdict = trust.verdict(cid, digest)
    assert verdict.ok and verdict.reason == "signed by 1 of the 1 required keys (fulcio-root)"

    # The same signature under a policy wanting another subject or issuer.
    other_subject = trust.component(repo, "v1", trust.policy(["fulcio-root"], 1, subject=r".*@example\.com"))
    assert trust.verdict(other_subject, digest).reason == (
        "refused: signed by 0 of the 1 required keys; signature 1: its certificate names "
        "https://ci.example.com/build/42, not .*@example\\.com")
    other_issuer = trust.component(repo, "v1", trust.policy(["fulcio-root"], 1, subject=CI,
                                                            issuer=r"https://token\.actions\.example\.com"))
    assert "its certificate's issuer https://issuer.example.com is not" in trust.verdict(other_issuer, digest).reason


def test_certificates_the_root_did_not_issue_or_not_for_code_signing_are_refused(app, trust, signing_keys):
    ca, stranger_ca = LocalCA(), LocalCA("another root")
    trust.root("fulcio-root", ca.pem)
    policy = trust.policy(["fulcio-root"], 1, subject=CI)
    repo = new_repo()
    public = signing_keys["stranger"][1]
    foreign = trust.pusher.push(repo, "v1", Image(content="v1"))
    trust.sign_keyless("stranger", stranger_ca.issue(public, uri="https://ci.example.com/x"), stranger_ca.pem,
                       repo, foreign)
    # cosign itself refuses to sign with a certificate not for code signing: a hostile push swaps one in.
    server = trust.pusher.push(repo, "v2", Image(content="v2"))
    trust.sign_keyless("stranger", ca.issue(public, uri="https://ci.example.com/x"), ca.pem, repo, server)
    tag = server.replace(":", "-") + ".sig"
    manifest = trust.pusher._request("GET", f"{trust.pusher.base}/v2/{repo}/manifests/{tag}", repo,
                                     headers={"Accept": OCI_MANIFEST}).json()
    manifest["layers"][0]["annotations"][trust_cosign.CERTIFICATE_ANNOTATION] = ca.issue(
        public, uri="https://ci.example.com/x", code_signing=False)
    trust.pusher.manifest(repo, tag, json.dumps(manifest).encode())
    cid = trust.component(repo, "v1", policy)
    assert "signature 1: its certificate does not chain to an accepted root" in trust.verdict(cid, foreign).reason
    assert "signature 1: its certificate is not for code signing" in trust.verdict(cid, server).reason


def test_an_expired_certificate_is_refused(app, trust, signing_keys):
    ca = LocalCA()
    trust.root("fulcio-root", ca.pem)
    policy_id = trust.policy(["fulcio-root"], 1, subject=CI)
    repo = new_repo()
    digest = trust.pusher.push(repo, "v1", Image(content="v1"))
    trust.sign_keyless("stranger", ca.issue(signing_keys["stranger"][1], uri="https://ci.example.com/x", hours=0.5),
                       ca.pem, repo, digest)
    cid = trust.component(repo, "v1", policy_id)
    assert trust.verdict(cid, digest).ok
    with app.app_context():  # an hour later: no transparency log vouches for the signing time
        component = db.session.get(Component, cid)
        source = images.source_for(component.team_id, component.source_registry, component.image)
        signatures, _m, problems = trust_cosign.read_signatures(source.client, source.repository, digest)
        policy = db.session.get(TrustPolicy, policy_id)
        later = trust_cosign.evaluate(policies.public_keys(policy), 1, digest, signatures, problems,
                                      policies.identity(policy), now=datetime.now(UTC) + timedelta(hours=1))
    assert not later.ok and "signature 1: its certificate expired (valid until" in later.reason


def test_a_root_that_is_no_ca_and_a_root_without_a_subject_are_field_errors(app, client, auth, trust, signing_keys):
    auth.signed_in()
    ca = LocalCA()
    leaf = ca.issue(signing_keys["stranger"][1], uri="https://ci.example.com/x")
    r = client.post("/trust/keys", data={"name": "leaf", "kind": "root", "pem": leaf})
    assert r.status_code == 422 and "This certificate is not a CA" in r.get_data(as_text=True)
    r = client.post("/trust/keys", data={"name": "root", "kind": "root", "pem": signing_keys["qa"][1]})
    assert r.status_code == 422 and "Paste the root CA certificate in PEM" in r.get_data(as_text=True)
    root = trust.root("fulcio-root", ca.pem)
    r = client.post("/trust/policies/new", data={"name": "anyone", "key_ids": [root], "threshold": 1})
    assert r.status_code == 422 and "a root CA alone accepts anyone it certifies" in r.get_data(as_text=True)
    r = client.post("/trust/policies/new", data={"name": "bad", "key_ids": [root], "threshold": 1,
                                                 "subject_pattern": "(unclosed"})
    assert r.status_code == 422 and "This is not a regular expression (RE2)" in r.get_data(as_text=True)
