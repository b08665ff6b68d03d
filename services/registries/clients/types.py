"""Plain values the registry clients return."""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.delivery.versions import highest, natural_key
from services.registries.clients.answers import as_str


@dataclass(slots=True)
class TagInfo:
    name: str
    digest: str | None = None
    size: int | None = None
    created: datetime | None = None
    platforms: tuple[str, ...] | list[str] = ()


class TagList:
    """A repository's tags as one fetch returned them, ready to be searched again and again.

    Registry v2 lists names only, so those stay plain strings and a TagInfo is made only for
    the rows shown (their details load per row). Harbor and Docker Hub list details with the
    names; those are kept by name, and their dates order the list.
    """

    __slots__ = ("names", "details", "_lowered", "_found")
    FOUND = 32  # searches remembered per list (a keystroke, or Refresh finding the same list, reuses them)

    def __init__(self, names: list[str], details: dict[str, TagInfo] | None = None):
        self.names = names
        self.details = details or {}
        self._lowered: list[str] | None = None
        self._found: dict[tuple[str, int], tuple[list[TagInfo], int]] = {}

    def same_as(self, other: object) -> bool:
        """The same tags (and details) as `other`: a fetch that found nothing new."""
        return isinstance(other, TagList) and self.names == other.names and self.details == other.details

    @classmethod
    def of(cls, infos: list[TagInfo]) -> TagList:
        return cls([t.name for t in infos], {t.name: t for t in infos})

    def __len__(self) -> int:
        return len(self.names)

    def info(self, name: str) -> TagInfo:
        return self.details.get(name) or TagInfo(name)

    def matching(self, query: str) -> list[str]:
        """Names containing `query`, ignoring case."""
        needle = query.strip().lower()
        if not needle:
            return self.names
        if needle.isascii() and not any(c.isalpha() for c in needle):  # "1.4": case cannot matter
            return [name for name in self.names if needle in name]
        if self._lowered is None:
            lowered = "\n".join(self.names).lower().split("\n")
            self._lowered = lowered if len(lowered) == len(self.names) else [n.lower() for n in self.names]
        return [name for name, low in zip(self.names, self._lowered, strict=True) if needle in low]

    def newest_first(self, names: list[str], limit: int) -> list[TagInfo]:
        """The first `limit` of `names`: newest first where every one has a date, else highest version."""
        dated = [self.details[n] for n in names if n in self.details and self.details[n].created] \
            if self.details else []
        if names and len(dated) == len(names):
            return heapq.nlargest(limit, dated, key=lambda t: (t.created, natural_key(t.name)))
        return [self.info(n) for n in highest(names, limit)]

    def search(self, query: str, limit: int) -> tuple[list[TagInfo], int]:
        """(first `limit` tags containing query, newest first; how many match)."""
        key = (query.strip().lower(), limit)
        found = self._found.get(key)
        if found is None:
            matched = self.matching(query)
            found = (self.newest_first(matched, limit), len(matched))
            if len(self._found) >= self.FOUND:
                self._found.clear()
            self._found[key] = found
        return list(found[0]), found[1]


@dataclass
class TagSearch:
    """What a registry that filters server-side (Docker Hub, Harbor) answers to a tag search."""

    tags: list[TagInfo]
    matched: int  # how many match (at least as many as shown)
    total: int | None  # how many tags in all, when the registry said so at no extra cost


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
    command: list[str] = field(default_factory=list)  # entrypoint + cmd, as the container runs them
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


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


def platform_of(p) -> str | None:
    """"os/architecture[/variant]" from an OCI platform object; None when it names no real platform."""
    if not isinstance(p, dict) or not as_str(p.get("os")) or p["os"] == "unknown":
        return None
    text = f"{p['os']}/{as_str(p.get('architecture')) or '?'}"
    return text + (f"/{p['variant']}" if as_str(p.get("variant")) else "")
