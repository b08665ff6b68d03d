"""Editing a component without deploying anything (no runtime needed): secret-like values kept
and never shown back, the diff, auto-deploy paused while polling records the refusal once, the
registry browser's "Deploy" and "Update <component>" links, and secret values out of Berth's logs."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from models import Component, DeliveryOutcome, Release, ReleaseStatus, db
from services.components import settings
from tests.fixtures.images import Image
from tests.helpers import create_component, create_registry


def _edit_data(cid_image, **overrides):
    data = {"source": "registry", "registry_id": "", "image": cid_image, "tag": "v1", "name": "web",
            "application": "shop", "replicas": "1", "memory_mb": "64", "health_kind": "none",
            "env-0-name": "DB_PASSWORD", "env-0-value": "", "env-1-name": "MODE", "env-1-value": "fast"}
    data.update(overrides)
    return data


@pytest.fixture
def web(app, client, auth):
    auth.signed_in()
    rid, _ = create_registry(app, name="local")
    cid = create_component(app, rid, "team/web", "v1", "web", release=False, memory_mb=64,
                           env=[["DB_PASSWORD", "hunter2-secret"], ["MODE", "slow"]])
    return rid, cid


def test_secret_like_values_are_never_shown_and_kept_when_left_empty(app, client, web):
    rid, cid = web
    page = client.get(f"/components/{cid}/edit").get_data(as_text=True)
    assert "hunter2-secret" not in page and 'value="slow"' in page
    r = client.post(f"/components/{cid}/edit", data={**_edit_data("team/web", registry_id=str(rid)),
                                                     "action": "save"})
    assert r.status_code == 302
    with app.app_context():
        c = db.session.get(Component, cid)
        assert c.env == [["DB_PASSWORD", "hunter2-secret"], ["MODE", "fast"]]
        assert c.release_seq == 0  # "Save" alone deploys nothing
    detail = client.get(f"/components/{cid}").get_data(as_text=True)
    assert "hunter2-secret" not in detail


def test_diff_lines_never_carry_env_values():
    old = {"image": "a", "tag": "v1", "replicas": 1, "memory_mb": 128, "cpu_millicores": None,
           "env": [["TOKEN", "abc"], ["GONE", "x"]], "ports": [{"port": 80, "protocol": "TCP", "expose": True}],
           "health": None, "registry_id": 1}
    new = {**old, "tag": "v2", "memory_mb": 256, "env": [["TOKEN", "xyz"], ["LOG_LEVEL", "debug"]], "ports": [],
           "health": {"kind": "tcp", "port": 80, "initial_delay": 0, "period": 10, "failure_threshold": 3}}
    lines = settings.diff(old, new)
    assert lines == ["tag v1 → v2", "memory 128 → 256 MiB", "+ env LOG_LEVEL", "- env GONE", "~ env TOKEN (new value)",
                     "- port 80/TCP exposed",
                     "health check none → TCP :80 every 10s after 0s, 3 failures"]
    assert not any(v in " ".join(lines) for v in ("abc", "xyz", "debug"))


def test_paused_component_records_a_polled_tag_once(app, registries):
    from services.delivery.polling import poll_cycle

    rid, _ = create_registry(app, registries.basic.url)
    pusher = registries.pusher(registries.basic)
    first = pusher.push("team/paused", "v1.0", Image(content="1.0"))
    cid = create_component(app, rid, "team/paused", "v1.0", "paused", release=False, auto_deploy=True,
                           trigger_kind="semver", trigger_pattern="^1", digest=first,
                           paused_reason="Auto-deploy paused since rollback #3 to v1.0 (release #1).")
    pusher.push("team/paused", "v1.1", Image(content="1.1"))
    for _ in range(3):
        with app.app_context():
            db.session.get(Component, cid).last_polled_at = None
            db.session.commit()
            poll_cycle()
    with app.app_context():
        reasons = db.session.scalars(select(DeliveryOutcome.reason).where(DeliveryOutcome.component_id == cid)).all()
        assert reasons == ["auto-deploy paused: Auto-deploy paused since rollback #3 to v1.0 (release #1)."]
        assert db.session.scalar(select(func.count(Release.id)).where(Release.component_id == cid)) == 0


def test_registry_browser_offers_deploy_and_update(app, client, auth, registries):
    auth.signed_in()
    rid, _ = create_registry(app, registries.basic.url, name="local")
    registries.pusher(registries.basic).push("team/browse", "v3", Image(content="3"))
    create_component(app, rid, "team/browse", "v1", "shopfront", release=False)
    page = client.get(f"/registries/{rid}/repository?repo=team/browse").get_data(as_text=True)
    assert f"/components/new?registry_id={rid}&amp;repo=team/browse&amp;tag=v3" in page
    assert "Update shopfront" in page
    with app.app_context():
        cid = db.session.scalar(select(Component.id).where(Component.name == "shopfront"))
    edit = client.get(f"/components/{cid}/edit?tag=v3").get_data(as_text=True)
    assert 'value="v3"' in edit and "tag v1 → v3" not in edit  # never deployed: no running release to compare


def test_secret_env_values_stay_out_of_berths_logs(app, client, web, caplog):
    rid, cid = web
    caplog.set_level(logging.DEBUG)
    with app.app_context():
        from services.components import releases

        c = db.session.get(Component, cid)
        release = releases.queue_release(c, "manual", "test")
        releases._finish(release, ReleaseStatus.FAILED, "it failed")
        db.session.commit()
    client.post(f"/components/{cid}/edit", data={**_edit_data("team/web", registry_id=str(rid)),
                                                 "env-0-value": "new-secret-value", "action": "save"})
    assert "hunter2-secret" not in caplog.text and "new-secret-value" not in caplog.text


def test_the_user_a_component_runs_as_is_a_setting_with_a_diff_line_and_old_releases_ran_as_root():
    before = {"image": "a", "tag": "v1", "env": [], "ports": []}  # recorded before the setting existed
    assert settings.run_as_root(before) is True
    assert settings.diff(before, {**before, "run_as_root": False}) == ["runs as root → non-root"]
    assert settings.diff({**before, "run_as_root": False}, {**before, "run_as_root": False}) == []


def test_replicas_managed_elsewhere_is_a_setting_with_a_diff_line_and_scale_is_refused(app, client, web):
    """Ticking the setting is saved and named in the diff; Berth's own Scale then says where replicas
    are set instead of queueing a release."""
    rid, cid = web
    r = client.post(f"/components/{cid}/edit", data={**_edit_data("team/web", registry_id=str(rid)),
                                                     "replicas_elsewhere": "y", "action": "save"})
    assert r.status_code == 302
    with app.app_context():
        assert db.session.get(Component, cid).replicas_elsewhere is True
    assert "replicas managed elsewhere" in client.get(f"/components/{cid}").get_data(as_text=True)
    r = client.post(f"/components/{cid}/scale", data={"replicas": "3"})
    assert r.status_code == 422 and "managed elsewhere" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Release.id)).where(Release.component_id == cid)) == 0
    before = {"image": "a", "tag": "v1", "env": [], "ports": []}  # recorded before the setting existed
    assert settings.diff(before, {**before, "replicas_elsewhere": True}) == [
        "replicas set by Berth → managed elsewhere"]
