"""A policy requiring a Harbor vulnerability scan (#28). Harbor's API cannot run on this machine:
FakeHarbor (tests/fixtures/fakes.py) is a FAKE answering as Harbor's documented API v2.0 does
(getArtifact with_scan_overview, scanArtifact), and its answer is checked against Harbor's own
OpenAPI spec here. The gate reads the scan overview; an artifact never scanned is scanned when a push
or poll asks, and waited for before a release is applied (outside any transaction), within the
policy's limit; a page only reads."""
from __future__ import annotations

import uuid
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml
from sqlalchemy import select

from models import Component, Release, TrustVerdict, db
from services.accounts import accounts
from services.registries.clients.harbor import encode_repository
from services.trust import gate, policies, scans
from tests.fixtures.fakes import FakeHarbor, harbor_artifact
from tests.fixtures.registry import PASSWORD, USER
from tests.helpers import create_component, create_registry

SPEC = Path(__file__).resolve().parents[1] / "data" / "harbor-swagger.yaml"


@pytest.fixture
def harbor():
    fake = FakeHarbor({USER: PASSWORD}, {})
    yield fake
    fake.stop()


class Scanned:
    """An artifact in the fake Harbor, a component on it guarded by a scan-only policy, and the gate."""

    def __init__(self, app, harbor: FakeHarbor, below: str = "high", wait: int = 30):
        self.app, self.harbor = app, harbor
        self.repo = f"proj/web-{uuid.uuid4().hex[:6]}"
        self.digest = "sha256:" + uuid.uuid4().hex * 2
        harbor.artifacts[self.repo] = [harbor_artifact(self.repo, self.digest, ["v1"], "2026-12-04T10:00:00.000Z")]
        registry_id, _ = create_registry(app, harbor.url, kind="harbor")
        with app.app_context():
            team = accounts.get_or_create_team("alpha")
            self.policy_id = policies.save_policy(team, policies.PolicyInput(
                f"scan-{uuid.uuid4().hex[:6]}", [], 1, scan_below=below, scan_wait_seconds=wait), "test").id
            db.session.commit()
        self.cid = create_component(app, registry_id, self.repo, "v1", release=False, trust_policy_id=self.policy_id,
                                    memory_mb=32)

    def verdict(self, scan: str = scans.READ):
        with self.app.app_context():
            v = gate.check(db.session.get(Component, self.cid), self.digest, scan=scan)
            db.session.commit()
            return v

    def wait_before_release(self) -> None:
        """What a release job does before applying: wait for the scan, outside any transaction."""
        with self.app.app_context():
            component = db.session.get(Component, self.cid)
            release = Release(team_id=component.team_id, component_id=self.cid, seq=1, tag="v1", digest=self.digest,
                              trigger="manual", triggered_by="test", status="pending", settings={})
            db.session.add(release)
            db.session.commit()
            gate.wait_for_scans(release.id)

    def accepted(self) -> bool:
        """Whether an acceptance is cached (a refusal by a scan is always decided again)."""
        with self.app.app_context():
            return bool(db.session.scalar(select(TrustVerdict.ok).where(TrustVerdict.policy_id == self.policy_id)))

    def scans_started(self) -> int:
        path = f"/artifacts/{self.digest}/scan"
        return sum(1 for method, p in self.harbor.server.calls if method == "POST" and p.endswith(path))


def test_the_fake_scan_overview_matches_harbors_spec(harbor):
    harbor.artifacts["proj/web"] = [harbor_artifact("proj/web", "sha256:" + "a" * 64, ["v1"], "2026-12-04T10:00:00Z")]
    harbor.scans["sha256:" + "a" * 64] = {"High": 2, "Low": 1}
    r = requests.get(f"{harbor.url}/api/v2.0/projects/proj/repositories/{encode_repository('web')}/artifacts/"
                     f"sha256:{'a' * 64}", params={"with_scan_overview": "true"}, auth=(USER, PASSWORD), timeout=5)
    spec = yaml.safe_load(SPEC.read_text())
    jsonschema.validate(r.json(), {"definitions": spec["definitions"], "$ref": "#/definitions/Artifact"})
    assert r.json()["scan_overview"][FakeHarbor.REPORT]["severity"] == "High"


def test_a_scan_finding_high_or_critical_is_refused_and_decided_again_after_a_rescan(app, harbor):
    s = Scanned(app, harbor, below="high")
    harbor.scans[s.digest] = {"Critical": 1, "High": 2, "Low": 5}
    assert s.verdict().reason == "refused: Harbor scan (Trivy) found 1 critical, 2 high, at or above high"
    assert s.scans_started() == 0  # it was scanned already

    harbor.scans[s.digest] = {"Medium": 3, "Low": 5}  # fixed in Harbor, scanned again
    verdict = s.verdict()
    assert verdict.ok and verdict.reason == "Harbor scan (Trivy): nothing at or above high"
    assert s.accepted()


def test_an_artifact_never_scanned_is_scanned_when_a_push_asks_and_waited_for_before_a_release(app, harbor):
    s = Scanned(app, harbor, below="critical")
    harbor.scan_results[s.digest] = {"High": 4}
    harbor.scan_polls = 2  # Harbor answers "Running" twice, then the result
    # A page only reads: no scan is started.
    assert s.verdict().reason.startswith(f"refused: Harbor has no scan of {s.digest[:19]}… yet")
    assert s.scans_started() == 0
    # A push or poll asks Harbor to scan and is refused for now (decided again at the next poll).
    assert s.verdict(scans.START).reason.startswith(f"refused: Harbor is scanning {s.digest[:19]}…")
    assert s.scans_started() == 1
    # A release waits for it before it applies anything, and the gate then reads the result.
    s.wait_before_release()
    assert s.scans_started() == 1
    verdict = s.verdict()
    assert verdict.ok and verdict.reason == "Harbor scan (Trivy): nothing at or above critical"


def test_a_scan_that_does_not_finish_in_time_is_a_refusal_decided_again_next_time(app, harbor):
    s = Scanned(app, harbor, wait=1)
    harbor.scan_polls = None  # the scanner never finishes
    s.wait_before_release()  # at most the policy's second
    assert s.scans_started() == 1
    assert s.verdict().reason.startswith(f"refused: Harbor is scanning {s.digest[:19]}…; decided again at the next")
    with app.app_context():
        verdict = scans.harbor_verdict(scans.ScanRule("p", "high", 0), gate.images.source_for(
            db.session.get(Component, s.cid).team_id, db.session.get(Component, s.cid).source_registry,
            s.repo).client, s.repo, s.digest, scans.WAIT)
    assert verdict.reason.startswith(f"refused: Harbor's scan of {s.digest[:19]}… did not finish within 0 s")

    harbor.running.pop(s.digest)
    harbor.scans[s.digest] = {"Critical": 2}  # it finished later
    assert s.verdict().reason == "refused: Harbor scan (Trivy) found 2 critical, at or above high"


def test_a_harbor_scan_required_of_an_image_in_another_registry_is_refused(app, trust):
    with app.app_context():
        team = accounts.get_or_create_team("alpha")
        policy = policies.save_policy(team, policies.PolicyInput("scan-elsewhere", [], 1, scan_below="high"), "test")
        db.session.commit()
        policy_id = policy.id
    digest = trust.pusher.push("team/scan-elsewhere", "v1")
    cid = trust.component("team/scan-elsewhere", "v1", policy_id)
    assert trust.verdict(cid, digest).reason == ("refused: scan-elsewhere requires a Harbor scan, and this image's "
                                                 "registry is not a Harbor")


def test_a_scan_policy_is_a_form_with_field_errors(app, client, auth, trust):
    auth.signed_in()
    r = client.post("/trust/policies/new", data={"name": "nothing", "threshold": 1})
    assert r.status_code == 422 and "or require a Harbor scan" in r.get_data(as_text=True)
    r = client.post("/trust/policies/new", data={"name": "att", "threshold": 1, "scan_below": "high",
                                                 "attestations": "sbom"})
    assert r.status_code == 422 and "Attestations are accepted when one of the chosen keys signed them" in \
        r.get_data(as_text=True)
    r = client.post("/trust/policies/new", data={"name": "wait", "threshold": 1, "scan_below": "high",
                                                 "scan_wait_seconds": 9999})
    assert r.status_code == 422 and "Wait 0 to 600 seconds." in r.get_data(as_text=True)
    r = client.post("/trust/policies/new", data={"name": "scanned", "threshold": 1, "scan_below": "high",
                                                 "scan_wait_seconds": 60})
    assert r.status_code == 302
    page = client.get("/trust/").get_data(as_text=True)
    assert "no signature; Harbor scan below high" in page
