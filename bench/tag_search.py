"""Tag search over a 5,000-tag repository: Berth's endpoint (cold, warm) vs one raw tags/list."""
from __future__ import annotations

import tempfile
from pathlib import Path

import requests

from bench.harness import berth_gunicorn, median_ms, report, signed_in_session, timed
from tests.fixtures.images import Image
from tests.fixtures.registry import MANY_TAGS, PASSWORD, USER, RegistryServer

REPEAT = 30


def run() -> None:
    server = RegistryServer(Path(tempfile.mkdtemp(prefix="berth-bench-reg-")))
    try:
        from concurrent.futures import ThreadPoolExecutor

        from tests.fixtures.images import Pusher

        p = Pusher(server.url, USER, PASSWORD)
        body, blobs = Image(content="many").manifest()
        for blob in blobs:
            p.blob("team/many", blob)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: p.manifest("team/many", f"1.{i // 100}.{i % 100}", body), range(MANY_TAGS)))

        with berth_gunicorn() as (app, live):
            s = signed_in_session(app, live)
            r = s.post(live.url + "/registries/new", data={"kind": "registry", "name": "bench", "url": server.url,
                                                           "username": USER, "password": PASSWORD},
                       allow_redirects=False)
            assert r.status_code == 302, r.text
            rid = r.headers["Location"].rstrip("/").split("/")[-1]
            endpoint = f"{live.url}/registries/{rid}/repository"
            headers = {"HX-Request": "true"}
            raw_session = requests.Session()

            def raw():
                data = raw_session.get(f"{server.url}/v2/team/many/tags/list", auth=(USER, PASSWORD),
                                       timeout=10).json()
                assert len(data["tags"]) == MANY_TAGS

            def cold():  # refresh=1 bypasses the tag cache, as the Refresh button does
                r = s.get(endpoint, params={"repo": "team/many", "q": "1.4", "refresh": "1"}, headers=headers,
                          timeout=10)
                assert "of 5000 tags" in r.text

            def warm():
                r = s.get(endpoint, params={"repo": "team/many", "q": "1.4"}, headers=headers, timeout=10)
                assert "of 5000 tags" in r.text

            def noop():  # what any signed-in request costs here: gunicorn, Flask, session, user lookup
                assert s.get(live.url + "/healthz", timeout=10).ok

            for fn in (raw, cold, warm, noop):  # warm up connections and code paths
                fn()
            raw_t, cold_t, warm_t, noop_t = [], [], [], []
            for _ in range(REPEAT):  # interleaved, so machine noise hits all alike
                raw_t += timed(raw, 1)
                cold_t += timed(cold, 1)
                warm_t += timed(warm, 1)
                noop_t += timed(noop, 1)
            raw_ms, cold_ms, warm_ms = median_ms(raw_t), median_ms(cold_t), median_ms(warm_t)
            noop_ms = median_ms(noop_t)
            print(f"  raw GET tags/list + parse: {raw_ms:.1f} ms; Berth cold: {cold_ms:.1f} ms; "
                  f"warm: {warm_ms:.1f} ms (medians of {REPEAT})")
            print(f"  a signed-in request doing nothing costs {noop_ms:.1f} ms here, so no cold search can beat "
                  f"(raw + that) / raw = {(raw_ms + noop_ms) / raw_ms:.2f}x")
            report("tag search, 5,000 tags: cold / raw fetch", f"{cold_ms / raw_ms:.2f}x", "<= 1.3x",
                   cold_ms / raw_ms <= 1.3)
            report("tag search, 5,000 tags: warm", f"{warm_ms:.1f} ms", "<= 20 ms", warm_ms <= 20)
    finally:
        server.stop()
