"""Harbor's vulnerability scan as part of a policy: the artifact's scan overview (Harbor API v2.0)
must list nothing at or above the policy's severity. An artifact never scanned is scanned: Berth
asks Harbor to scan it and waits at most the policy's scan_wait_seconds; a scan still running then
is a refusal decided again next time (nothing is cached)."""
from __future__ import annotations

import time

from models import TrustPolicy
from services.registries.clients.harbor import HarborClient, ScanSummary
from services.trust.cosign import Verdict

# Harbor's severities, lowest first ("unknown" and "none" are below all of them).
SEVERITIES = ("negligible", "low", "medium", "high", "critical")
CHOICES = ("low", "medium", "high", "critical")
RUNNING = {"pending", "running", "scheduled"}
FIRST_POLL, LONGEST_POLL = 0.25, 2.0
MAX_WAIT = 600


def harbor_verdict(policy: TrustPolicy, client, repository: str, digest: str, sleep=time.sleep,
                   clock=time.monotonic) -> Verdict | None:
    """The scan's verdict, or None when the scan did not finish within the policy's wait."""
    if not isinstance(client, HarborClient):
        return Verdict(False, f"refused: {policy.name} requires a Harbor scan, and this image's registry is not "
                              "a Harbor")
    deadline = clock() + min(max(policy.scan_wait_seconds or 0, 0), MAX_WAIT)
    started, delay = False, FIRST_POLL
    while True:
        summary = client.scan_overview(repository, digest)
        if summary is not None and summary.status == "success":
            return judge(summary, policy.scan_below)
        if summary is not None and summary.status not in RUNNING:
            return Verdict(False, f"refused: Harbor's scan of {digest[:19]}… ended with status {summary.status} "
                                  "(scan it again in Harbor)")
        if summary is None and not started:
            client.start_scan(repository, digest)
            started = True
        left = deadline - clock()
        if left <= 0:
            return None
        sleep(min(delay, left))
        delay = min(delay * 2, LONGEST_POLL)


def judge(summary: ScanSummary, below: str) -> Verdict:
    """Whether a finished scan lists nothing at or above `below`: its counts per severity, or its
    overall severity when it gives no counts."""
    limit = SEVERITIES.index(below)
    counts = summary.counts or ({summary.severity: 1} if summary.severity in SEVERITIES else {})
    bad = [(sev, n) for sev, n in sorted(counts.items(), key=lambda c: -_rank(c[0]))
           if _rank(sev) >= limit]
    if bad:
        found = ", ".join(f"{n} {sev}" for sev, n in bad)
        return Verdict(False, f"refused: Harbor scan ({summary.scanner}) found {found}, at or above {below}")
    return Verdict(True, f"Harbor scan ({summary.scanner}): nothing at or above {below}")


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def pending_verdict(policy: TrustPolicy) -> Verdict:
    return Verdict(False, f"refused: Harbor's scan did not finish within {policy.scan_wait_seconds} s "
                          "(decided again at the next push, poll or deploy)")
