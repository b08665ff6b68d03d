"""The trust tests' setup: the team's keys as rows, a registry row for the real basic registry, and
helpers to make policies, sign with the real cosign, and ask the gate."""
from __future__ import annotations

import uuid

import pytest

from models import Component, db
from services.trust import gate, policies
from tests.helpers import create_component, create_registry


def new_repo() -> str:
    return f"team/signed-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def trust(app, client, registries, cosign, signing_keys):
    """The team's keys (release, qa) as rows, a registry row for the basic registry, and helpers;
    the app's background workers started (they run the releases)."""
    from services.accounts import accounts

    client.get("/healthz")

    class Trust:
        pusher = registries.pusher(registries.basic)
        host = registries.basic.host

        def __init__(self):
            with app.app_context():
                team = accounts.get_or_create_team("alpha")
                self.keys = {name: policies.add_key(team, name, signing_keys[name][1], "test").id
                             for name in ("release", "qa")}
                db.session.commit()
            self.registry_id, _ = create_registry(app, registries.basic.url)

        def policy(self, names: list[str], threshold: int, name: str | None = None, attestations: str = "",
                   subject: str = "", issuer: str = "") -> int:
            with app.app_context():
                team = accounts.get_or_create_team("alpha")
                p = policies.save_policy(team, policies.PolicyInput(name or f"p-{uuid.uuid4().hex[:6]}",
                                                                    [self.keys[n] for n in names], threshold,
                                                                    attestations, subject, issuer), "test")
                db.session.commit()
                return p.id

        def sign(self, key: str, repo: str, digest: str) -> None:
            cosign.sign(signing_keys[key][0], f"{self.host}/{repo}@{digest}")

        def sign_keyless(self, key: str, certificate: str, chain: str, repo: str, digest: str) -> None:
            cosign.sign_keyless(signing_keys[key][0], certificate, chain, f"{self.host}/{repo}@{digest}")

        def root(self, name: str, pem: str) -> int:
            with app.app_context():
                key = policies.add_key(accounts.get_or_create_team("alpha"), name, pem, "test", kind="root")
                db.session.commit()
                self.keys[name] = key.id
                return key.id

        def attest(self, key: str, repo: str, digest: str, kind: str, predicate: dict, *extra: str) -> None:
            cosign.attest(signing_keys[key][0], f"{self.host}/{repo}@{digest}", kind, predicate, *extra)

        def attest_keyless(self, key: str, certificate: str, chain: str, repo: str, digest: str, kind: str,
                           predicate: dict) -> None:
            cosign.attest_keyless(signing_keys[key][0], certificate, chain, f"{self.host}/{repo}@{digest}", kind,
                                  predicate)

        def sign_referrer(self, key: str, repo: str, digest: str) -> None:
            cosign.sign_referrer(signing_keys[key][0], f"{self.host}/{repo}@{digest}")

        def component(self, repo: str, tag: str, policy_id: int, **fields) -> int:
            return create_component(app, self.registry_id, repo, tag, release=False, trust_policy_id=policy_id,
                                    memory_mb=32, **fields)

        def verdict(self, cid: int, digest: str):
            with app.app_context():
                v = gate.check(db.session.get(Component, cid), digest)
                db.session.commit()
                return v
    return Trust()


