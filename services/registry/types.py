"""Plain values the registry clients return."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(slots=True)
class TagInfo:
    name: str
    digest: str | None = None
    size: int | None = None
    created: datetime | None = None
    platforms: tuple[str, ...] | list[str] = ()


@dataclass
class RepoPage:
    items: list[str]
    total: int | None
    page: int
    per_page: int

    @property
    def has_next(self) -> bool:
        if self.total is None:
            return len(self.items) >= self.per_page
        return self.page * self.per_page < self.total


@dataclass
class ImageDetails:
    repository: str
    reference: str
    digest: str
    media_type: str
    size: int | None = None
    created: datetime | None = None
    platforms: list[str] = field(default_factory=list)
    exposed_ports: list[tuple[int, str]] = field(default_factory=list)
    env: list[tuple[str, str]] = field(default_factory=list)
    command: list[str] = field(default_factory=list)


def parse_time(value) -> datetime | None:
    """RFC 3339 / ISO 8601 from registries (with Z, offsets and nanoseconds) to naive UTC."""
    if not value or not isinstance(value, str):
        return None

    text = value.strip().replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits):]
        text = f"{head}.{digits[:6]}{tz}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    if parsed.year < 1971:  # reproducible builds set the epoch; it says nothing
        return None
    return parsed
