"""Environments and promotion on two real Kubernetes control planes (both databases): auto-promotion
after a rollback stays paused until resumed; a freeze window holds a promotion until an owner
overrides it with a reason; an unreachable target leaves "1 of 2" and a closed gate until it comes
back; two approvals at the same moment count once; a digest marked bad is never promoted; bad input
is a message with nothing changed. The whole flow with dev on podman, in Chromium:
test_browser_environments.py."""
from __future__ import annotations

import html
import os
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import (
    AuditEntry,
    ClusterTarget,
    Component,
    ComponentStage,
    Environment,
    Promotion,
    Release,
    User,
    db,
    utcnow,
)
from services.components import promotions
from services.errors import ServiceError
from tests.components.test_create_and_deploy import wait_release
from tests.fixtures.images import Image
from tests.helpers import create_component, create_registry, field_error


def _cluster(client, name, cluster, token) -> None:
    r = client.post("/clusters/new", data={"name": name, "server": cluster.url, "ca_pem": cluster.ca_pem,
                                           "token": token, "kubeconfig": ""})
    assert r.status_code == 302, r.get_data(as_text=True)


def _env_form(name, targets, upstream=None, **rules) -> dict:
    data = {"name": name, "upstream_id": str(upstream or ""), "targets": targets, "namespace": "",
            "approvals_required": "0", "soak_minutes": "0", "health_rule": "all", "on_failure": "retry",
            "freeze_windows": ""}
    data.update({k: (v if not isinstance(v, bool) else "y") for k, v in rules.items() if v is not False})
    return data


def _env_id(app, name) -> int:
    with app.app_context():
        return db.session.scalar(select(Environment.id).where(Environment.name == name))


def _cluster_id(app, name) -> int:
    with app.app_context():
        return db.session.scalar(select(ClusterTarget.id).where(ClusterTarget.name == name))


def _row(app, name) -> int:
    with app.app_context():
        return db.session.scalar(select(Component.id).where(Component.name == name))


def _stage(app, cid, env) -> int:
    with app.app_context():
        return db.session.scalar(select(ComponentStage.id).where(ComponentStage.component_id == cid,
                                                                ComponentStage.environment_id == _env_id(app, env)))


def _promotions(app, cid) -> list[tuple[str, str, str]]:
    with app.app_context():
        return [(p.environment.name, p.tag, p.status) for p in db.session.scalars(
            select(Promotion).where(Promotion.component_id == cid).order_by(Promotion.id))]


def _tick(app, minutes=0.0) -> None:
    with app.app_context():
        promotions.tick(now=utcnow() + timedelta(minutes=minutes))


def _settle(app, row_id, minutes=0.0) -> Release:
    """Wait for the row's newest release to finish, then let the leader's round follow it."""
    release = wait_release(app, row_id, timeout=120)
    _tick(app, minutes)
    return release


def _user(app, email) -> User:
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


@pytest.fixture
def prefix(app, cluster):
    """A namespace prefix of this test's own on the clusters; its namespaces are removed afterwards."""
    value = f"t{os.urandom(3).hex()}-"
    app.config["BERTH_KUBERNETES_NAMESPACE_PREFIX"] = value
    yield value
    for env in ("staging", "production", "dev"):
        cluster.kubectl("delete", "namespace", f"{value}alpha-{env}", "--wait=false", "--ignore-not-found",
                        check=False)


def _approve_at_once(app, pid: int, emails: tuple[str, str]) -> list[str]:
    """Two people approve the promotion at the same moment (threads past a barrier): what each got."""
    outcomes, barrier = [], threading.Barrier(len(emails))

    def approve(email):
        with app.app_context():
            user = db.session.scalar(select(User).where(User.email == email))
            promotion = db.session.get(Promotion, pid)
            barrier.wait()
            try:
                promotions.approve(promotion, user)
                db.session.commit()
                outcomes.append("approved")
            except ServiceError as e:
                db.session.rollback()
                outcomes.append(e.message)
    threads = [threading.Thread(target=approve, args=(e,)) for e in emails]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return outcomes


# -- on the two control planes only (both databases) ------------------------------------------------
@pytest.fixture
def kube_pipeline(app, client, auth, make_user, registries, cluster, berth_token, second_cluster, second_token,
                  prefix):
    """dev and staging on the first cluster, production on the second; web's v1 pushed. Returns
    (component id, registry pusher, repository, first digest)."""
    auth.signed_in()
    make_user(email="b@example.com", role="member")
    _cluster(client, "one", cluster, berth_token)
    _cluster(client, "two", second_cluster, second_token)
    one, two = str(_cluster_id(app, "one")), str(_cluster_id(app, "two"))
    assert client.post("/environments/new", data=_env_form("dev", [one])).status_code == 302
    assert client.post("/environments/new", data=_env_form(
        "staging", [one], upstream=_env_id(app, "dev"), auto_promote=True)).status_code == 302
    assert client.post("/environments/new", data=_env_form(
        "production", [two], upstream=_env_id(app, "staging"), auto_promote=True)).status_code == 302
    rid, _ = create_registry(app, registries.basic.url)
    pusher = registries.pusher(registries.basic)
    repo = f"team/kenv-{uuid.uuid4().hex[:6]}"
    digest = pusher.push(repo, "v1", Image(content="v1"))
    cid = create_component(app, rid, repo, "v1", "web", release=False, memory_mb=32)
    assert client.post(f"/components/{cid}/environments").status_code == 302
    return cid, pusher, repo, digest


def _ship(app, client, cid, pusher, repo, tag) -> str:
    """Push `tag`, deploy it to dev and let auto-promotion carry it as far as it goes."""
    digest = pusher.push(repo, tag, Image(content=tag))
    with app.app_context():
        db.session.get(Component, cid).tag = tag
        db.session.commit()
    assert client.post(f"/components/{cid}/deploy-first").status_code == 302
    _settle(app, _row(app, "web@dev/one"))
    return digest


def test_a_rollback_in_production_pauses_auto_promotion_until_resumed(app, client, kube_pipeline):
    cid, pusher, repo, v1 = kube_pipeline
    _ship(app, client, cid, pusher, repo, "v1")
    _settle(app, _row(app, "web@staging/one"))
    _settle(app, _row(app, "web@production/two"))
    v2 = _ship(app, client, cid, pusher, repo, "v2")
    _settle(app, _row(app, "web@staging/one"))
    prod = _row(app, "web@production/two")
    assert _settle(app, prod).digest == v2
    assert [p[1:] for p in _promotions(app, cid)] == [("v1", "done")] * 2 + [("v2", "done")] * 2
    with app.app_context():
        first = db.session.scalar(select(Release.id).where(Release.component_id == prod, Release.digest == v1))
    assert client.post(f"/components/{prod}/releases/{first}/rollback").status_code == 302
    assert _settle(app, prod).digest == v1
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert "Auto-promotion paused since rollback" in page
    _ship(app, client, cid, pusher, repo, "v3")
    staged = _settle(app, _row(app, "web@staging/one"))
    assert staged.tag == "v3"
    _tick(app)
    assert _promotions(app, cid)[-1][0] == "staging"  # nothing went to production
    assert wait_release(app, prod).digest == v1
    assert client.post(f"/stages/{_stage(app, cid, 'production')}/resume").status_code == 302
    _tick(app)
    assert _promotions(app, cid)[-1][:2] == ("production", "v3")


def test_a_freeze_window_holds_a_promotion_until_an_owner_overrides_it_with_a_reason(app, client, auth,
                                                                                  kube_pipeline):
    cid, pusher, repo, v1 = kube_pipeline
    production = _env_id(app, "production")
    r = client.post(f"/environments/{production}/edit", data=_env_form(
        "production", [str(_cluster_id(app, "two"))], upstream=_env_id(app, "staging"), auto_promote=True,
        freeze_windows="FREQ=DAILY;BYHOUR=0;BYMINUTE=0 for 24h"))
    assert r.status_code == 302, r.get_data(as_text=True)
    _ship(app, client, cid, pusher, repo, "v1")
    _settle(app, _row(app, "web@staging/one"))
    assert _promotions(app, cid)[-1] == ("production", "v1", "waiting")
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert "production is frozen until" in page and "(UTC)" in page
    with app.app_context():
        pid = db.session.scalar(select(Promotion.id).where(Promotion.environment_id == production))
    auth.logout()
    auth.signed_in(email="b@example.com", admin=False)
    page = client.post(f"/promotions/{pid}/override", data={"reason": "hotfix for the outage"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Only the team&#39;s owners may override a freeze window." in page
    auth.logout()
    auth.signed_in()
    page = client.post(f"/promotions/{pid}/override", data={"reason": ""}, follow_redirects=True).get_data(as_text=True)
    assert "Say why it may go during the freeze." in page
    assert _promotions(app, cid)[-1] == ("production", "v1", "waiting")
    assert client.post(f"/promotions/{pid}/override", data={"reason": "hotfix for the outage"}).status_code == 302
    assert _settle(app, _row(app, "web@production/two")).digest == v1
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.in_(
            ("promotion.requested", "promotion.freeze_override"))).order_by(AuditEntry.id)).all()
        assert [e.action for e in entries][-2:] == ["promotion.requested", "promotion.freeze_override"]
        assert entries[-1].actor == "owner@example.com" and "hotfix for the outage" in entries[-1].summary


def test_one_of_two_targets_unreachable_keeps_the_next_gate_closed_and_is_retried(app, client, cluster,
                                                                                  berth_token, kube_pipeline):
    cid, pusher, repo, v1 = kube_pipeline
    from tests.fixtures.registry import free_port

    down = free_port()
    r = client.post("/clusters/new", data={"name": "down", "server": f"https://127.0.0.1:{down}",
                                           "ca_pem": cluster.ca_pem, "token": berth_token, "kubeconfig": ""})
    assert r.status_code == 302
    staging = _env_id(app, "staging")
    r = client.post(f"/environments/{staging}/edit", data=_env_form(
        "staging", [str(_cluster_id(app, "one")), str(_cluster_id(app, "down"))], upstream=_env_id(app, "dev"),
        auto_promote=True))
    assert r.status_code == 302, r.get_data(as_text=True)
    _ship(app, client, cid, pusher, repo, "v1")
    up, gone = _row(app, "web@staging/one"), _row(app, "web@staging/down")
    assert _settle(app, up).status == "running"
    assert _settle(app, gone).status == "failed"
    # production's promotion is asked for, and its gate stays closed
    assert _promotions(app, cid) == [("staging", "v1", "partial"), ("production", "v1", "waiting")]
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert "1 of 2 targets" in page and "staging runs it healthy on 1 of 2 targets (all needed)." in page
    with app.app_context():
        # production's gate: staging must run it healthy on all its targets
        gate = promotions.upstream_gate(db.session.get(Component, cid), db.session.get(Environment, _env_id(
            app, "production")), db.session.get(Environment, staging), v1, utcnow() + timedelta(hours=1))
        assert not gate.ok and "1 of 2 targets (all needed)" in gate.reason
        # the cluster comes back (here: the target is pointed at where it answers)
        db.session.get(ClusterTarget, _cluster_id(app, "down")).server = cluster.url
        db.session.commit()
    _tick(app, minutes=2)
    assert _settle(app, gone, minutes=2).status == "running"
    assert _promotions(app, cid) == [("staging", "v1", "done"), ("production", "v1", "deploying")]
    assert _settle(app, _row(app, "web@production/two")).digest == v1


def test_two_approvals_at_the_same_moment_start_one_promotion(app, client, make_user, kube_pipeline):
    cid, pusher, repo, v1 = kube_pipeline
    make_user(email="c@example.com", role="member")
    production = _env_id(app, "production")
    r = client.post(f"/environments/{production}/edit", data=_env_form(
        "production", [str(_cluster_id(app, "two"))], upstream=_env_id(app, "staging"), auto_promote=True,
        approvals_required="2"))
    assert r.status_code == 302, r.get_data(as_text=True)
    _ship(app, client, cid, pusher, repo, "v1")
    _settle(app, _row(app, "web@staging/one"))
    assert _promotions(app, cid)[-1] == ("production", "v1", "waiting")
    with app.app_context():
        pid = db.session.scalar(select(Promotion.id).where(Promotion.environment_id == production))
    assert "1 of 2" in client.post(f"/promotions/{pid}/approve", follow_redirects=True).get_data(as_text=True)
    outcomes = _approve_at_once(app, pid, ("b@example.com", "c@example.com"))
    assert sorted(outcomes) == ["Someone decided on this promotion just now; look again.", "approved"], outcomes
    prod = _row(app, "web@production/two")
    assert _settle(app, prod).digest == v1
    with app.app_context():
        assert db.session.scalar(select(func.count(Release.id)).where(Release.component_id == prod)) == 1
        assert db.session.get(Promotion, pid).approvers[0] == "owner@example.com"
    assert _promotions(app, cid)[-1] == ("production", "v1", "done")


def test_a_digest_marked_bad_anywhere_is_never_promoted_and_production_takes_no_pushes(app, client, kube_pipeline):
    from services.components import components, releases
    from services.errors import FieldErrors

    cid, pusher, repo, v1 = kube_pipeline
    with app.app_context():
        db.session.get(Component, cid).tag = "v1"
        db.session.commit()
    assert client.post(f"/components/{cid}/deploy-first").status_code == 302
    dev = _row(app, "web@dev/one")
    release = wait_release(app, dev)
    with app.app_context():
        releases.mark_bad(db.session.get(Component, dev), db.session.get(Release, release.id), "crashed in a test")
        db.session.commit()
    _tick(app)
    assert _promotions(app, cid) == []  # auto-promotion never asks for it
    r = client.post(f"/releases/{release.id}/promote", data={"environment_id": str(_env_id(app, "staging"))})
    assert r.status_code == 302
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert f"{v1[:19]} was marked bad on web@dev/one: crashed in a test" in page
    assert _promotions(app, cid) == [("staging", "v1", "waiting")]
    with app.app_context():
        row = db.session.get(Component, _row(app, "web@production/two"))
        with pytest.raises(FieldErrors, match="takes only promotions"):
            components.update_build_source(row, components.BuildSourceInput(
                auto_deploy=True, trigger_kind="same_tag", trigger_pattern="", include_prereleases=False,
                no_downgrade=True, poll_interval=None, webhook_secret="", clear_secret=False), "test")


@pytest.mark.parametrize(("form", "field", "words"), [
    ({"freeze_windows": "every friday evening"}, "freeze_windows", "Line 1: write a window as &lt;RRULE&gt; for"),
    ({"freeze_windows": "FREQ=WEEKLY;BYDAY=XX for 4h"}, "freeze_windows", "Line 1: This RRULE does not parse"),
    ({"freeze_windows": "FREQ=MINUTELY for 4h"}, "freeze_windows", "FREQ must be one of"),
    ({"targets": []}, "targets", "at least one place"),
    ({"name": "Prod EU"}, "name", "lowercase letters"),
    ({"approvals_required": "11"}, "approvals_required", ""),
])
def test_bad_environment_input_is_a_field_error_and_nothing_is_saved(app, client, auth, form, field, words):
    auth.signed_in()
    r = client.post("/environments/new", data={**_env_form("dev", ["local"]), **form})
    assert r.status_code == 422
    assert words in field_error(r.get_data(as_text=True), field)
    with app.app_context():
        assert db.session.scalar(select(func.count(Environment.id))) == 0


def test_an_environment_cycle_and_unknown_overrides_are_refused_and_change_nothing(app, client, auth):
    auth.signed_in()
    assert client.post("/environments/new", data=_env_form("dev", ["local"])).status_code == 302
    assert client.post("/environments/new", data=_env_form("staging", ["local"],
                                                           upstream=_env_id(app, "dev"))).status_code == 302
    r = client.post(f"/environments/{_env_id(app, 'dev')}/edit",
                    data=_env_form("dev", ["local"], upstream=_env_id(app, "staging")))
    assert r.status_code == 422
    assert "without cycles" in field_error(r.get_data(as_text=True), "upstream_id")
    with app.app_context():
        assert db.session.get(Environment, _env_id(app, "dev")).upstream_id is None
    cid = create_component(app, None, "registry.example.com/team/web", "v1", "web", release=False,
                           ports=[{"port": 8080, "protocol": "TCP", "expose": True, "host_port": None}])
    assert client.post(f"/components/{cid}/environments").status_code == 302
    stage = _stage(app, cid, "staging")
    assert client.post(f"/stages/{stage}", data={"overrides": "replicas = 3"}).status_code == 302
    for text, words in (("replicaz = 3", "Berth has no setting 'replicaz' to override"),
                        ("replicas = many", "replicas is a whole number"),
                        ("public_host.9090 = shop.example.com", "exposes no port 9090"),
                        ("volume_size.data = 10", "mounts no volume 'data'")):
        r = client.post(f"/stages/{stage}", data={"overrides": text})
        assert r.status_code == 422 and words in html.unescape(field_error(r.get_data(as_text=True), "overrides")), text
    with app.app_context():
        assert db.session.get(ComponentStage, stage).overrides == {"replicas": 3}


def test_approving_an_expired_or_superseded_promotion_is_refused(app, client, auth, make_user):
    """Promotions waiting on approvals, made without any runtime: their gates stay closed."""
    auth.signed_in()
    make_user(email="b@example.com", role="member")
    assert client.post("/environments/new", data=_env_form("dev", ["local"])).status_code == 302
    assert client.post("/environments/new", data=_env_form("production", ["local"], upstream=_env_id(app, "dev"),
                                                           approvals_required="1")).status_code == 302
    cid = create_component(app, None, "registry.example.com/team/web", "v1", "web", release=False)
    assert client.post(f"/components/{cid}/environments").status_code == 302
    dev = _row(app, "web@dev/local")
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.email == "owner@example.com"))
        made = []
        for n in (1, 2, 3):
            release = Release(team_id=db.session.get(Component, dev).team_id, component_id=dev, seq=n, tag=f"v{n}",
                              digest="sha256:" + f"{n}" * 64, trigger="manual", triggered_by="test",
                              status="running", settings={}, base_settings={"tag": f"v{n}"})
            db.session.add(release)
            db.session.flush()
            made.append(promotions.request(release, db.session.get(Environment, _env_id(app, "production")),
                                           owner.email, user=owner).id)
        db.session.get(Promotion, made[2]).expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    auth.logout()
    auth.signed_in(email="b@example.com", admin=False)
    page = client.post(f"/promotions/{made[0]}/approve", follow_redirects=True).get_data(as_text=True)
    assert f"Promotion #{made[0]} is superseded: nothing to decide." in page
    page = client.post(f"/promotions/{made[2]}/approve", follow_redirects=True).get_data(as_text=True)
    assert f"Promotion #{made[2]} has expired." in page
    with app.app_context():
        assert [db.session.get(Promotion, i).approved_count for i in made] == [0, 0, 0]


def test_members_may_not_deploy_by_hand_where_only_owners_promote(app, client, auth, make_user):
    """An owners-only environment's rows take no redeploy, stop or scale from a member; their edit
    page leads to the environment's overrides (a row has no settings of its own)."""
    auth.signed_in()
    make_user(email="b@example.com", role="member")
    assert client.post("/environments/new", data=_env_form("dev", ["local"])).status_code == 302
    assert client.post("/environments/new", data=_env_form("production", ["local"], upstream=_env_id(app, "dev"),
                                                           owners_only=True)).status_code == 302
    cid = create_component(app, None, "registry.example.com/team/web", "v1", "web", release=False)
    assert client.post(f"/components/{cid}/environments").status_code == 302
    prod = _row(app, "web@production/local")
    r = client.get(f"/components/{prod}/edit")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/stages/{_stage(app, cid, 'production')}")
    auth.logout()
    auth.signed_in(email="b@example.com", admin=False)
    for action, data in (("redeploy", {}), ("stop", {}), ("scale", {"replicas": "1"})):
        r = client.post(f"/components/{prod}/{action}", data=data)
        assert r.status_code == 422 and "Only the team&#39;s owners may deploy to production." in r.get_data(
            as_text=True), action
    with app.app_context():
        assert db.session.scalar(select(func.count(Release.id)).where(Release.component_id == prod)) == 0
