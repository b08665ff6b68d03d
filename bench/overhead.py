"""Per-request overhead: Berth's signed-in no-op (GET /whoami) beside a minimal Flask + Flask-Login
app doing the same user lookup (bench/minimal_app.py), both under gunicorn (1 worker, 4 threads,
gthread), on one SQLite database, requests interleaved over kept-alive connections."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import requests

from bench.harness import berth_gunicorn, median_ms, report, signed_in_session, timed
from tests.fixtures.registry import free_port
from tests.fixtures.servers import ROOT

REPEAT = 1000


class Minimal:
    def __init__(self, database_url: str, **extra_env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BERTH_DATABASE_URL": database_url,
               "BERTH_SECRET_KEY": os.environ.get("BERTH_SECRET_KEY", "x" * 40), **extra_env}
        # -c: not Berth's gunicorn.conf.py, whose post_worker_init starts Berth's background work.
        self.proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", os.devnull, "-w", "1", "-k", "gthread",
                                      "--threads", "4", "-b", f"127.0.0.1:{self.port}", "--keep-alive", "5",
                                      "bench.minimal_app:app"],
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                requests.get(self.url + "/whoami", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the minimal app did not start")

    def signed_in(self, email: str = "bench@example.com") -> requests.Session:
        session = requests.Session()
        assert session.post(self.url + "/login", data={"email": email}).status_code == 204
        return session

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)


def run() -> None:
    with berth_gunicorn(workers=1, threads=4) as (app, live):
        berth = signed_in_session(app, live)
        minimal = Minimal(app.config["SQLALCHEMY_DATABASE_URI"])
        try:
            plain = minimal.signed_in()

            def berth_noop():
                r = berth.get(live.url + "/whoami", timeout=10)
                assert r.status_code == 200 and r.json()["email"] == "bench@example.com", r.text

            def minimal_noop():
                r = plain.get(minimal.url + "/whoami", timeout=10)
                assert r.status_code == 200 and r.json()["email"] == "bench@example.com", r.text

            for _ in range(50):
                berth_noop()
                minimal_noop()
            b, m = [], []
            for _ in range(REPEAT):
                b += timed(berth_noop, 1)
                m += timed(minimal_noop, 1)
        finally:
            minimal.stop()
    b_ms, m_ms = median_ms(b), median_ms(m)
    print(f"  signed-in no-op, medians of {REPEAT}: Berth {b_ms:.2f} ms, minimal Flask + Flask-Login {m_ms:.2f} ms")
    report("per-request overhead: Berth / minimal Flask app", f"{b_ms / m_ms:.2f}x", "<= 1.3x", b_ms / m_ms <= 1.3)
