"""Time from "Create and deploy" to the container answering HTTP on podman (image already in the registry)."""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench.harness import berth_gunicorn, report, signed_in_session
from tests.fixtures.images import Image, Pusher
from tests.fixtures.podman import CONTAINERS_CONF
from tests.fixtures.registry import PASSWORD, USER, RegistryServer, free_port

RUNS = 3


def run() -> None:
    if not os.environ.get("CONTAINERS_CONF"):
        conf = Path(tempfile.mkdtemp()) / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        os.environ["CONTAINERS_CONF"] = str(conf)
    server = RegistryServer(Path(tempfile.mkdtemp(prefix="berth-bench-reg-")))
    try:
        Pusher(server.url, USER, PASSWORD).push("bench/web", "v1", Image(content="bench"))
        with berth_gunicorn(BERTH_DEPLOYER="podman") as (app, live):
            s = signed_in_session(app, live)
            r = s.post(live.url + "/registries/new", data={"kind": "registry", "name": "bench", "url": server.url,
                                                           "username": USER, "password": PASSWORD},
                       allow_redirects=False)
            rid = r.headers["Location"].rstrip("/").split("/")[-1]
            times, created = [], []
            for i in range(RUNS):
                port = free_port()
                start = time.perf_counter()
                r = s.post(live.url + "/components/new", allow_redirects=False, data={
                    "source": "registry", "registry_id": rid, "image": "bench/web", "tag": "v1",
                    "name": f"bench-{i}-{os.getpid()}", "application": "bench", "replicas": "1", "memory_mb": "32",
                    "ports-0-port": "8080", "ports-0-protocol": "TCP", "ports-0-expose": "y",
                    "ports-0-host_port": str(port)})
                assert r.status_code == 302, r.text[-500:]
                created.append(r.headers["Location"])
                deadline = time.time() + 60
                while time.time() < deadline:
                    try:
                        if requests.get(f"http://127.0.0.1:{port}/", timeout=1).text == "bench":
                            break
                    except requests.RequestException:
                        time.sleep(0.05)
                else:
                    raise RuntimeError("the component never answered")
                times.append(time.perf_counter() - start)
            for location in created:
                s.post(live.url + location + "/delete")
        med = statistics.median(times)
        print(f"  create-and-deploy to serving: {', '.join(f'{t:.2f}s' for t in times)} (first run pulls the image)")
        report("create and deploy -> container serving (podman), median", f"{med:.2f} s", "<= 5 s", med <= 5)
    finally:
        server.stop()
