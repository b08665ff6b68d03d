"""Harbor's vulnerability scan as part of a policy: the artifact's scan overview (Harbor API v2.0)
must list nothing at or above the policy's severity.

An artifact never scanned is scanned, but nothing waits for a scan while holding the database: a
page only reads the overview (READ), a push or poll asks Harbor to scan and is refused for now,
decided again at the next poll (START), and a release about to be applied waits for the scan
outside any transaction (WAIT, gate.wait_for_scans) at most the policy's scan_wait_seconds. A refusal
by a scan is decided again every time (the scan may finish, or be run again)."""
from __future__ import annotations

import time
from dataclasses import dataclass

from models import TrustPolicy
from services.registries.clients.harbor import HarborClient, ScanSummary
from services.trust.cosign import Verdict

# Harbor's severities, lowest first ("unknown" and "none" are below all of them).
SEVERITIES = ("negligible", "low", "medium", "high", "critical")
CHOICES = ("low", "medium", "high", "critical")
RUNNING = {"pending", "running", "scheduled"}
FIRST_POLL, LONGEST_POLL = 0.25, 2.0
MAX_WAIT = 600
READ, START, WAIT = "read", "start", "wait"


@dataclass(frozen=True)
class ScanRule:
    """What a policy asks of a Harbor scan (plain values: usable once the session is gone)."""
    policy: str
    below: str
    wait_seconds: int

    @classmethod
    def of(cls, policy: TrustPolicy) -> ScanRule:
        return cls(policy.name, policy.scan_below, min(max(policy.scan_wait_seconds or 0, 0), MAX_WAIT))


def harbor_verdict(rule: ScanRule, client, repository: str, digest: str, mode: str = READ, sleep=time.sleep,
                   clock=time.monotonic) -> Verdict:
    """The scan's verdict; while there is no finished scan, a refusal saying so (after starting a
    scan in START and WAIT, and waiting for it in WAIT)."""
    if not isinstance(client, HarborClient):
        return Verdict(False, f"refused: {rule.policy} requires a Harbor scan, and this image's registry is not "
                              "a Harbor")
    deadline = clock() + rule.wait_seconds
    started, delay = False, FIRST_POLL
    while True:
        summary = client.scan_overview(repository, digest)
        if summary is not None and summary.status == "success":
            return judge(summary, rule.below)
        if summary is not None and summary.status not in RUNNING:
            return Verdict(False, f"refused: Harbor's scan of {digest[:19]}… ended with status {summary.status} "
                                  "(scan it again in Harbor)")
        if summary is None and mode != READ and not started:
            client.start_scan(repository, digest)
            started = True
        left = deadline - clock()
        if mode != WAIT or left <= 0:
            return _unfinished(rule, digest, mode, started or summary is not None)
        sleep(min(delay, left))
        delay = min(delay * 2, LONGEST_POLL)


def _unfinished(rule: ScanRule, digest: str, mode: str, scanning: bool) -> Verdict:
    if mode == WAIT:
        why = f"Harbor's scan of {digest[:19]}… did not finish within {rule.wait_seconds} s"
    elif scanning:
        why = f"Harbor is scanning {digest[:19]}…"
    else:
        why = f"Harbor has no scan of {digest[:19]}… yet (a push, poll or deploy starts one)"
    return Verdict(False, f"refused: {why}; decided again at the next poll or deploy")


def judge(summary: ScanSummary, below: str) -> Verdict:
    """Whether a finished scan lists nothing at or above `below`: its counts per severity, or its
    overall severity when it gives no counts."""
    limit = SEVERITIES.index(below)
    counts = summary.counts or ({summary.severity: 1} if summary.severity in SEVERITIES else {})
    bad = [(sev, n) for sev, n in sorted(counts.items(), key=lambda c: -_rank(c[0])) if _rank(sev) >= limit]
    if bad:
        found = ", ".join(f"{n} {sev}" for sev, n in bad)
        return Verdict(False, f"refused: Harbor scan ({summary.scanner}) found {found}, at or above {below}")
    return Verdict(True, f"Harbor scan ({summary.scanner}): nothing at or above {below}")


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1
