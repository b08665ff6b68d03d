"""Trust (#28): cosign signatures made by the real cosign (built from its Go module), pushed to the
real local registry without a transparency log, verified by Berth offline; the gate on pushes,
polls, manual deploys and rollbacks, on the real control plane."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from models import AuditEntry, Component, DeliveryOutcome, Notification, NotificationChannel, Release, TrustPolicy, db
from services.delivery import polling
from tests.fixtures.images import OCI_MANIFEST, Blob, Image
from tests.helpers import wait_for
from tests.trust.conftest import new_repo

pytestmark = [pytest.mark.registry]


def test_signatures_by_enough_keys_pass_and_each_refusal_says_why(app, trust):
    repo = new_repo()
    unsigned = trust.pusher.push(repo, "v1", Image(content="v1"))
    one_of_one = trust.component(repo, "v1", trust.policy(["release"], 1))
    assert trust.verdict(one_of_one, unsigned).reason.startswith(f"refused: no cosign signature for {unsigned[:19]}")

    trust.sign("release", repo, unsigned)
    verdict = trust.verdict(one_of_one, unsigned)
    assert verdict.ok and verdict.reason == "signed by 1 of the 1 required keys (release)"

    # Two of two: one key signing twice still counts once; the second key's signature, added later,
    # is seen although a refusal was cached (the signature manifest changed).
    two_of_two = trust.component(repo, "v1", trust.policy(["release", "qa"], 2))
    trust.sign("release", repo, unsigned)  # the registry holds two signatures by one key now
    refused = trust.verdict(two_of_two, unsigned)
    assert not refused.ok and refused.reason.startswith("refused: signed by 1 of the 2 required keys (release)")
    trust.sign("qa", repo, unsigned)
    assert trust.verdict(two_of_two, unsigned).reason == "signed by 2 of the 2 required keys (qa, release)"

    # A key no policy accepts.
    stranger = trust.pusher.push(repo, "v2", Image(content="v2"))
    trust.sign("stranger", repo, stranger)
    assert trust.verdict(one_of_one, stranger).reason == (
        "refused: signed by 0 of the 1 required keys; signature 1 does not verify with any accepted key")

    # The tag moved to an unsigned digest after signing: the new digest has no signature.
    moved = trust.pusher.push(repo, "v1", Image(content="v1 again"))
    assert moved != unsigned
    assert trust.verdict(one_of_one, moved).reason.startswith("refused: no cosign signature")


def _signature_manifest(trust, repo: str, digest: str) -> dict:
    r = trust.pusher._request("GET", f"{trust.pusher.base}/v2/{repo}/manifests/{digest.replace(':', '-')}.sig",
                              repo, headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_copied_or_tampered_signature_is_refused(app, trust):
    repo = new_repo()
    signed = trust.pusher.push(repo, "v1", Image(content="v1"))
    other = trust.pusher.push(repo, "v2", Image(content="v2"))
    trust.sign("release", repo, signed)
    cid = trust.component(repo, "v1", trust.policy(["release"], 1))
    manifest = _signature_manifest(trust, repo, signed)

    # v1's signature copied under v2's signature tag: it verifies, but names v1.
    trust.pusher.manifest(repo, other.replace(":", "-") + ".sig", json.dumps(manifest).encode())
    verdict = trust.verdict(cid, other)
    assert not verdict.ok
    assert f"is for another image ({signed[:19]}…), copied from another digest" in verdict.reason

    # A payload changed after signing (another digest named), stored as a blob of its own.
    third = trust.pusher.push(repo, "v3", Image(content="v3"))
    layer = manifest["layers"][0]
    payload = json.loads(trust.pusher._request("GET", f"{trust.pusher.base}/v2/{repo}/blobs/{layer['digest']}",
                                               repo).content)
    payload["critical"]["image"]["docker-manifest-digest"] = third
    forged = Blob(json.dumps(payload).encode(), layer["mediaType"])
    trust.pusher.blob(repo, forged)
    tampered = dict(manifest, layers=[dict(layer, digest=forged.digest, size=len(forged.data))])
    trust.pusher.manifest(repo, third.replace(":", "-") + ".sig", json.dumps(tampered).encode())
    verdict = trust.verdict(cid, third)
    assert verdict.reason == ("refused: signed by 0 of the 1 required keys; "
                              "signature 1 does not verify with any accepted key")



def _outcomes(app, cid):
    with app.app_context():
        return [(o.tag, o.outcome, o.reason) for o in db.session.scalars(
            select(DeliveryOutcome).where(DeliveryOutcome.component_id == cid).order_by(DeliveryOutcome.id))]


def _poll(app):
    """One poll cycle, as the leader runs it when the components are due."""
    with app.app_context():
        db.session.execute(update(Component).values(last_polled_at=None))
        polling.poll_cycle()
        db.session.commit()


def _releases(app, cid):
    with app.app_context():
        return [(r.tag, r.digest, r.status, r.trust_override) for r in db.session.scalars(
            select(Release).where(Release.component_id == cid).order_by(Release.id))]


def test_an_unsigned_push_is_refused_and_notified_then_deploys_once_signed(app, trust, deploy_to_cluster):
    deploy_to_cluster(app)
    repo = new_repo()
    first = trust.pusher.push(repo, "stable", Image(content="one"))
    trust.sign("release", repo, first)
    cid = trust.component(repo, "stable", trust.policy(["release"], 1), auto_deploy=True, poll_interval=15)
    with app.app_context():
        db.session.add(NotificationChannel(team_id=db.session.get(Component, cid).team_id, name="hooks",
                                           kind="webhook", url="https://203.0.113.9/hook",
                                           events=["autodeploy.refused"]))
        db.session.commit()
    _poll(app)
    try:
        wait_for(lambda: _releases(app, cid) and _releases(app, cid)[-1][2] == "running", 120)
    except AssertionError:
        raise AssertionError(f"{_outcomes(app, cid)} {_releases(app, cid)}") from None

    pushed = trust.pusher.push(repo, "stable", Image(content="two, unsigned"))
    _poll(app)
    reason = f"refused: no cosign signature for {pushed[:19]}"
    assert _outcomes(app, cid)[-1][1] == "refused" and _outcomes(app, cid)[-1][2].startswith(reason)
    assert [r[1] for r in _releases(app, cid)] == [first]
    with app.app_context():
        sent = db.session.scalars(select(Notification).where(Notification.event == "autodeploy.refused")).all()
        assert len(sent) == 1 and reason in json.dumps(sent[0].payload)
    _poll(app)  # the same refusal again: nothing new recorded, nobody told twice
    assert len(_outcomes(app, cid)) == 2

    trust.sign("release", repo, pushed)
    _poll(app)
    assert _outcomes(app, cid)[-1][1] == "deployed"
    wait_for(lambda: _releases(app, cid)[-1][1:3] == (pushed, "running"), 120)


def test_a_manual_deploy_of_an_unsigned_tag_fails_with_the_reason(app, trust, deploy_to_cluster):
    from services.components import operations

    deploy_to_cluster(app)
    repo = new_repo()
    unsigned = trust.pusher.push(repo, "v1", Image(content="v1"))
    cid = trust.component(repo, "v1", trust.policy(["release"], 1))
    with app.app_context():
        operations.redeploy(db.session.get(Component, cid), "owner@example.com")
        db.session.commit()
    wait_for(lambda: _releases(app, cid) and _releases(app, cid)[-1][2] == "failed", 60)
    with app.app_context():
        release = db.session.scalars(select(Release).where(Release.component_id == cid)).one()
        assert release.message.startswith(f"{unsigned[:19]} was not deployed: refused: no cosign signature")


def test_a_rollback_the_policy_refuses_needs_an_owners_reason(app, client, auth, make_user, trust,
                                                               deploy_to_cluster):
    deploy_to_cluster(app)
    auth.signed_in()
    repo = new_repo()
    v1 = trust.pusher.push(repo, "v1", Image(content="v1"))
    v2 = trust.pusher.push(repo, "v2", Image(content="v2"))
    for digest in (v1, v2):
        trust.sign("release", repo, digest)
    trust.sign("qa", repo, v2)
    policy_id = trust.policy(["release"], 1)
    cid = trust.component(repo, "v1", policy_id)
    for tag in ("v1", "v2"):
        with app.app_context():
            db.session.get(Component, cid).tag = tag
            db.session.commit()
        assert client.post(f"/components/{cid}/redeploy").status_code == 302
        wait_for(lambda: _releases(app, cid)[-1][2] == "running", 120)
    # The policy now wants qa's signature too: v1 has only release's.
    r = client.post(f"/trust/policies/{policy_id}", data={
        "name": "strict", "key_ids": [trust.keys["release"], trust.keys["qa"]], "threshold": 2}, follow_redirects=True)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Saved policy strict." in page
    assert "no longer accepts" not in page  # v2, running, carries both signatures
    with app.app_context():
        first = db.session.scalars(select(Release).where(Release.component_id == cid).order_by(Release.id)).first()
    r = client.post(f"/components/{cid}/releases/{first.id}/rollback")
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert "cannot be rolled back to: refused: signed by 1 of the 2 required keys (release)" in page
    assert len(_releases(app, cid)) == 2

    make_user(email="member@example.com", role="member")
    member = app.test_client()
    assert member.post("/login", data={"email": "member@example.com", "password": "correct horse"}).status_code == 302
    assert member.post(f"/components/{cid}/releases/{first.id}/rollback-anyway",
                       data={"reason": "me"}).status_code == 403
    assert client.post(f"/components/{cid}/releases/{first.id}/rollback-anyway",
                       data={"reason": ""}).status_code == 422
    assert len(_releases(app, cid)) == 2
    r = client.post(f"/components/{cid}/releases/{first.id}/rollback-anyway",
                    data={"reason": "v2 corrupts uploads; qa signs v1 tomorrow"})
    assert r.status_code == 302
    wait_for(lambda: _releases(app, cid)[-1][1:3] == (v1, "running"), 120)
    assert _releases(app, cid)[-1][3] == "v2 corrupts uploads; qa signs v1 tomorrow"
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "trust.override")).one()
        assert entry.actor == "owner@example.com" and "qa signs v1 tomorrow" in entry.summary


@pytest.mark.parametrize("pem, words", [
    ("", "Paste a public key in PEM"),
    ("not a key", "This is not a PEM public key"),
    ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "That is a private key"),
    ("-----BEGIN PUBLIC KEY-----\n" + "A" * 20000 + "\n-----END PUBLIC KEY-----\n", "at most 16 KiB"),
])
def test_a_key_berth_cannot_use_is_a_field_error_and_nothing_is_saved(app, client, auth, pem, words):
    auth.signed_in()
    r = client.post("/trust/keys", data={"name": "ci", "pem": pem})
    assert r.status_code == 422 and words in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TrustPolicy)) == 0
        from models import TrustKey
        assert db.session.scalar(select(func.count()).select_from(TrustKey)) == 0


def test_a_weak_rsa_key_and_a_policy_without_keys_are_refused(app, client, auth):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    auth.signed_in()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    r = client.post("/trust/keys", data={"name": "old", "pem": weak})
    assert r.status_code == 422 and "An RSA key of 1024 bits is too weak" in r.get_data(as_text=True)
    r = client.post("/trust/policies/new", data={"name": "empty", "threshold": 1})
    assert r.status_code == 422 and "Choose at least one key" in r.get_data(as_text=True)


def test_a_policy_change_names_the_running_components_it_no_longer_accepts(app, client, auth, trust,
                                                                          deploy_to_cluster):
    deploy_to_cluster(app)
    auth.signed_in()
    repo = new_repo()
    v1 = trust.pusher.push(repo, "v1", Image(content="v1"))
    trust.sign("release", repo, v1)
    policy_id = trust.policy(["release"], 1, name="signed")
    cid = trust.component(repo, "v1", policy_id, name="web")
    assert client.post(f"/components/{cid}/redeploy").status_code == 302
    wait_for(lambda: _releases(app, cid) and _releases(app, cid)[-1][2] == "running", 120)
    r = client.post(f"/trust/policies/{policy_id}", data={"name": "signed", "key_ids": [trust.keys["qa"]],
                                                          "threshold": 1}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert f"web runs {v1[:19]}, which signed no longer accepts (refused: signed by 0 of the 1 required keys" in page
    assert _releases(app, cid)[-1][2] == "running"  # what runs keeps running


def test_the_rule_preview_shows_the_policys_verdict_on_the_tag_that_would_deploy(app, client, auth, trust):
    auth.signed_in()
    repo = new_repo()
    unsigned = trust.pusher.push(repo, "v1.0", Image(content="v1.0"))
    older = trust.pusher.push(repo, "v0.9", Image(content="v0.9"))
    cid = trust.component(repo, "v1.0", trust.policy(["release"], 1))
    preview = f"/components/{cid}/build-source/preview?trigger_kind=regex&trigger_pattern=v.*"
    page = client.get(preview).get_data(as_text=True)
    assert "none would deploy now" in page and f"refused: no cosign signature for {unsigned[:19]}" in page
    trust.sign("release", repo, unsigned)
    page = client.get(preview).get_data(as_text=True)
    assert "would deploy" in page and "none would deploy now" not in page

    # Each matching tag's verdict, not only the winner's: the older unsigned tag says why not.
    assert page.count('data-testid="trust-verdict"') == 2
    assert "signed by 1 of the 1 required keys (release)" in page
    assert f"refused: no cosign signature for {older[:19]}" in page
