"""The trust gate's cost: a signature verified cold (registry requests beyond the digest check) and a
cached verdict (median time of the gate's check), with a real cosign signature (--tlog-upload=false)
in a real docker-registry, on SQLite. A signature pushed as an OCI referrer costs more cold: the
.sig tag is asked first (cosign's default), then the referrers (listing, manifest, payload); on a
registry without the referrers API, its 404 once, then the tag schema's index."""
from __future__ import annotations

import tempfile
from pathlib import Path

from bench.harness import berth_app, median_ms, report, timed

REPEAT = 500


def run() -> None:
    from models import Component, db
    from services.accounts import accounts
    from services.registries.clients.v2 import RegistryV2Client
    from services.trust import gate, policies
    from tests.fixtures.cosign import Cosign, cosign_binary
    from tests.fixtures.images import Image
    from tests.fixtures.registry import RegistryServer
    from tests.helpers import create_component, create_registry

    work = Path(tempfile.mkdtemp(prefix="berth-bench-trust-"))
    server = RegistryServer(work / "registry")
    try:
        from tests.fixtures.images import Pusher
        from tests.fixtures.registry import PASSWORD, USER

        digest = Pusher(server.url, USER, PASSWORD).push("team/signed", "v1", Image(content="signed"))
        referred = Pusher(server.url, USER, PASSWORD).push("team/signed", "v2", Image(content="referred"))
        later = Pusher(server.url, USER, PASSWORD).push("team/signed", "v3", Image(content="referred later"))
        cosign = Cosign(cosign_binary(), work / "cosign")
        cosign.login(server.host)
        key, public = cosign.keypair("release")
        cosign.sign(key, f"{server.host}/team/signed@{digest}")
        for image in (referred, later):
            cosign.sign_referrer(key, f"{server.host}/team/signed@{image}")
        with berth_app(BERTH_ALLOW_PRIVATE_REGISTRIES=True) as (app, _live):
            with app.app_context():
                team = accounts.get_or_create_team("bench")
                k = policies.add_key(team, "release", public, "bench")
                policy = policies.save_policy(team, policies.PolicyInput("signed", [k.id], 1), "bench")
                db.session.commit()
                policy_id = policy.id
            rid, _ = create_registry(app, server.url, team="bench")
            cid = create_component(app, rid, "team/signed", "v1", release=False, team="bench",
                                   trust_policy_id=policy_id)
            original = RegistryV2Client.request

            def cold(checked: str) -> list[str]:
                calls = []

                def counted(self, method, path, **kw):
                    calls.append(f"{method} {path.split('/v2/', 1)[-1]}")
                    return original(self, method, path, **kw)
                RegistryV2Client.request = counted
                try:
                    with app.app_context():
                        verdict = gate.check(db.session.get(Component, cid), checked)
                        db.session.commit()
                finally:
                    RegistryV2Client.request = original
                assert verdict is not None and verdict.ok, verdict
                print(f"  cold: {verdict.reason}; requests: {', '.join(calls)}")
                return calls
            calls = cold(digest)
            report("trust: registry requests of a cold verification", str(len(calls)), "<= 2", len(calls) <= 2)
            calls = cold(referred)
            report("trust: the same, signed as an OCI referrer", str(len(calls)), "<= 5", len(calls) <= 5)
            calls = cold(later)  # the registry is known now to answer referrers by the tag schema only
            report("trust: the next referrer on that registry", str(len(calls)), "<= 4", len(calls) <= 4)
            with app.app_context():
                component = db.session.get(Component, cid)
                gate.check(component, digest)
                ms = median_ms(timed(lambda: gate.check(component, digest), REPEAT))
            report("trust: a cached verdict, median", f"{ms:.3f} ms", "<= 1 ms", ms <= 1)
    finally:
        server.stop()
