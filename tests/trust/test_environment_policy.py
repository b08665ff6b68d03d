"""A trust policy per environment (#28): every digest deployed to an environment must pass its
policy, beside the component's own; the Trust page names the environments a policy guards, and a
policy in use by an environment cannot be deleted."""
from __future__ import annotations

from sqlalchemy import select

from models import Environment, TrustKey, TrustPolicy, db
from services.accounts import accounts
from services.trust import policies
from tests.components.test_environments import _env_form, _env_id, _row
from tests.fixtures.images import Image
from tests.trust.conftest import new_repo


def test_an_environments_policy_guards_its_stage_rows_beside_the_components_own(app, client, auth, trust):
    auth.signed_in()
    production_policy = trust.policy(["release", "qa"], 2, name="production-signed")
    assert client.post("/environments/new", data=_env_form("dev", ["local"])).status_code == 302
    r = client.post("/environments/new", data={**_env_form("production", ["local"], upstream=_env_id(app, "dev")),
                                               "trust_policy_id": str(production_policy)})
    assert r.status_code == 302, r.get_data(as_text=True)
    repo = new_repo()
    digest = trust.pusher.push(repo, "v1", Image(content="v1"))
    cid = trust.component(repo, "v1", trust.policy(["release"], 1, name="component-signed"), name="web")
    assert client.post(f"/components/{cid}/environments").status_code == 302
    dev, production = _row(app, "web@dev/local"), _row(app, "web@production/local")

    trust.sign("release", repo, digest)
    assert trust.verdict(dev, digest).ok  # the component's policy alone
    refused = trust.verdict(production, digest)
    assert refused.reason.startswith("refused: signed by 1 of the 2 required keys (release)")
    trust.sign("qa", repo, digest)
    verdict = trust.verdict(production, digest)
    assert verdict.ok and verdict.reason == ("signed by 1 of the 1 required keys (release); "
                                             "signed by 2 of the 2 required keys (qa, release)")

    page = client.get("/trust/").get_data(as_text=True)
    assert "environment production" in page
    assert "trust policy production-signed" in client.get("/environments/").get_data(as_text=True)
    page = client.post(f"/trust/policies/{production_policy}/delete", follow_redirects=True).get_data(as_text=True)
    assert "Policy production-signed guards environment production" in page
    with app.app_context():
        assert db.session.get(TrustPolicy, production_policy) is not None


def test_an_environment_may_not_name_another_teams_policy(app, client, auth, trust):
    auth.signed_in()
    with app.app_context():
        other = accounts.get_or_create_team("beta")
        key = policies.add_key(other, "theirs", db.session.get(TrustKey, trust.keys["release"]).pem, "test")
        theirs = policies.save_policy(other, policies.PolicyInput("theirs", [key.id], 1), "test").id
        db.session.commit()
    r = client.post("/environments/new", data={**_env_form("dev", ["local"]), "trust_policy_id": str(theirs)})
    assert r.status_code == 422 and "Not a valid choice" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Environment.id).where(Environment.name == "dev")) is None
