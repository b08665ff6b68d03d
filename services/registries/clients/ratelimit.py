"""Rate limits as registries report them, read from any response's headers.

- Docker Hub: `ratelimit-limit: 100;w=21600`, `ratelimit-remaining: 76;w=21600` (a rolling window of
  w seconds; no reset time) and `docker-ratelimit-source`.
- GitHub (and GHCR's API), GitLab and the IETF draft: `x-ratelimit-limit` / `-remaining` / `-reset`
  or `ratelimit-limit` / `-remaining` / `-reset`, the reset an epoch time or seconds from now.
- Any registry: 429 with `Retry-After`.
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass

from services.registries.clients.http import parse_retry_after

_NUMBER = re.compile(r"^\s*(\d{1,12})\s*(?:;\s*w\s*=\s*(\d{1,9}))?")
EPOCH = 1_000_000_000  # a reset above this is a time, below it seconds from now


@dataclass
class RateLimit:
    seen_at: float
    limit: int | None = None
    remaining: int | None = None
    window: int | None = None  # seconds (Docker Hub's rolling window)
    reset_at: float | None = None  # epoch seconds
    retry_after: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data) -> RateLimit | None:
        if not isinstance(data, dict) or not isinstance(data.get("seen_at"), int | float):
            return None
        fields = {k: data.get(k) for k in ("limit", "remaining", "window")}
        times = {k: data.get(k) for k in ("reset_at", "retry_after")}
        return cls(float(data["seen_at"]), **{k: v if isinstance(v, int) else None for k, v in fields.items()},
                   **{k: float(v) if isinstance(v, int | float) else None for k, v in times.items()})

    def exhausted(self, now: float, reserve: int = 0) -> float | None:
        """Until when (epoch seconds) requests should wait because no more than `reserve` remain
        before the reset; None when they may go on. (A 429 without figures is the poller's own
        backoff to honour: it saw it.)"""
        if self.remaining is None or self.remaining > reserve:
            return None
        until = self.reset_at or (self.seen_at + self.window if self.window else self.seen_at + 3600)
        return until if until > now else None


def _first(headers, *names) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return None


def parse(headers, status: int, now: float | None = None) -> RateLimit | None:
    """The rate limit these headers report, or None when they report none."""
    now = time.time() if now is None else now
    limit = _NUMBER.match(_first(headers, "ratelimit-limit", "x-ratelimit-limit") or "")
    remaining = _NUMBER.match(_first(headers, "ratelimit-remaining", "x-ratelimit-remaining") or "")
    reset = _NUMBER.match(_first(headers, "ratelimit-reset", "x-ratelimit-reset") or "")
    retry_after = parse_retry_after(headers.get("Retry-After")) if status == 429 else None
    if not (limit or remaining or retry_after is not None or status == 429):
        return None
    found = RateLimit(seen_at=now)
    if limit:
        found.limit = int(limit.group(1))
        found.window = int(limit.group(2)) if limit.group(2) else None
    if remaining:
        found.remaining = int(remaining.group(1))
        found.window = found.window or (int(remaining.group(2)) if remaining.group(2) else None)
    if reset:
        value = int(reset.group(1))
        found.reset_at = float(value) if value > EPOCH else now + value
    if status == 429:
        found.retry_after = retry_after if retry_after is not None else 60.0
        found.reset_at = found.reset_at or now + found.retry_after
    return found
