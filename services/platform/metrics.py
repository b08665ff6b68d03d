"""Prometheus metrics. With several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR to aggregate them."""
from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REGISTRY_REQUESTS = Counter("berth_registry_requests_total", "Requests Berth sent to registries",
                            ["registry", "outcome"])
REGISTRY_LATENCY = Histogram("berth_registry_request_seconds", "Registry request latency", ["registry"],
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
DELIVERIES = Counter("berth_webhook_deliveries_total", "Webhook deliveries by source and outcome",
                     ["source", "outcome"])
KUBERNETES_REQUESTS = Counter("berth_kubernetes_requests_total",
                              "Requests Berth sent to the Kubernetes API server, by HTTP method (WATCH: a watch)",
                              ["verb"])
RELEASES = Counter("berth_releases_total", "Releases that ended, by trigger and status", ["trigger", "status"])
POLL_DURATION = Histogram("berth_poll_cycle_seconds", "Duration of a poll cycle",
                          buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120))
POLL_LAG = Gauge("berth_poll_lag_seconds", "Seconds the most overdue component waited past its poll interval",
                 multiprocess_mode="max")
POLL_LAST = Gauge("berth_poll_last_cycle_timestamp_seconds", "When the last poll cycle ended",
                  multiprocess_mode="max")


def registry_observer(label: str):
    """The registry clients' `observe` callback (services.registries.clients.http.HttpSettings), counting under
    `label`: a saved registry's id, never a host someone typed (series stay bounded)."""
    def observe(_host: str, outcome: str, seconds: float) -> None:
        REGISTRY_REQUESTS.labels(label, outcome).inc()
        REGISTRY_LATENCY.labels(label).observe(seconds)
    return observe


def kubernetes_observer(verb: str) -> None:
    """The Kubernetes deployer's `observe` callback: one request sent, by verb."""
    KUBERNETES_REQUESTS.labels(verb).inc()


def render() -> tuple[bytes, str]:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
