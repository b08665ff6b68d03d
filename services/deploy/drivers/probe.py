"""Health checks Berth runs itself where the runtime does not (podman without systemd timers):
the same HTTP GET or TCP connect a Kubernetes probe makes, from the host to the published port."""
from __future__ import annotations

import socket
import time

import requests

from services.deploy.drivers.spec import DeployStatus, HealthCheck


def check_once(health: HealthCheck, host: str, port: int) -> tuple[bool, str]:
    """(passed, what happened in words). HTTP: any 200-399 answer passes, as in Kubernetes."""
    if health.kind == "tcp":
        try:
            with socket.create_connection((host, port), timeout=health.timeout):
                return True, f"TCP port {health.port} accepts connections"
        except OSError as e:
            return False, f"TCP connect to port {health.port} failed: {e.strerror or e}"
    url = f"http://{host}:{port}{health.path}"
    try:
        with requests.get(url, timeout=health.timeout, allow_redirects=False, stream=True) as answer:
            code = answer.status_code
    except requests.RequestException as e:
        reason = "connection refused" if isinstance(e, requests.ConnectionError) else type(e).__name__
        return False, f"HTTP GET {health.path} on port {health.port} failed: {reason}"
    if 200 <= code < 400:
        return True, f"HTTP {code} on {health.path}"
    return False, f"HTTP {code} on {health.path}"


class Checker:
    """Runs one release's health check over successive status polls: waits the initial delay, then
    checks every period; passes at the first success, fails after `failure_threshold` failures in a row."""

    def __init__(self, health: HealthCheck, clock=time.monotonic):
        self.health, self.clock = health, clock
        self.started: float | None = None
        self.next_at = 0.0
        self.failures = 0
        self.last = "waiting for the first check"

    def step(self, address: tuple[str, int] | None) -> DeployStatus:
        now = self.clock()
        if self.started is None:
            self.started, self.next_at = now, now + self.health.initial_delay
        if address is None:
            return DeployStatus("failed", "Unhealthy", f"The health check's port {self.health.port} is not "
                                "published on the host, so it cannot be checked; expose that port.")
        if now >= self.next_at:
            ok, self.last = check_once(self.health, *address)
            self.next_at = now + self.health.period
            if ok:
                return DeployStatus("running", "Healthy", f"The container is running and healthy ({self.last}).")
            self.failures += 1
            if self.failures >= self.health.failure_threshold:
                return DeployStatus("failed", "Unhealthy", f"The health check failed {self.failures} times in "
                                    f"a row: {self.last}.")
        return DeployStatus("deploying", "Starting", f"The container runs; waiting for its health check "
                            f"({self.failures} failed so far: {self.last}).")
