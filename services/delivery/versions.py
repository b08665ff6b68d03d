"""Version-aware ordering of tags, semantic versions and ranges."""
from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

# Digit runs are cut at 4,000 (Python's int() refuses over 4,300 digits): absurd tags still sort.
_CHUNK = re.compile(r"(\d{1,4000})")
# A version's numbers have at most 30 digits; a longer "number" is not a version.
_SEMVER = re.compile(
    r"^[vV]?(\d{1,30})(?:\.(\d{1,30}))?(?:\.(\d{1,30}))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def natural_key(tag: str) -> list:
    """Sort key where v5.10 comes after v5.9 (numbers compare as numbers).

    re.split with a capturing group alternates text and digits, so positions always hold the
    same type and the lists compare safely.
    """
    parts = _CHUNK.split(tag)
    parts[1::2] = map(int, parts[1::2])
    return parts


_DIGITS_AS_ZERO = str.maketrans("0123456789", "0000000000")


def highest(names: Iterable[str], limit: int) -> list[str]:
    """The `limit` highest names in natural_key order, highest first, without a key per name.

    Names of one shape (digits in the same places: 1.4.23 and 1.9.07, not 1.10.2) order as
    plain strings do, a comparison done in C; so only each shape's top `limit` names need
    natural_key. A 5,000-tag list costs a translate, a grouping pass and a few sorts.
    """
    names = list(names)
    shape_of = "\n".join(names).translate(_DIGITS_AS_ZERO).split("\n")
    if len(shape_of) != len(names):  # a name with a newline: not a real tag, but stay correct
        return heapq.nlargest(limit, names, key=natural_key)
    shapes: dict[str, list[str]] = {}
    for name, shape in zip(names, shape_of, strict=True):
        group = shapes.get(shape)
        if group is None:
            shapes[shape] = [name]
        else:
            group.append(name)
    if len(shapes) == 1:
        return sorted(names, reverse=True)[:limit]
    # Each shape's names, highest first, merged: natural_key only for the names the merge compares.
    tops = [sorted(group)[:-limit - 1:-1] for group in shapes.values()]
    return list(islice(heapq.merge(*tops, key=natural_key, reverse=True), limit))


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple = ()

    def key(self) -> tuple:
        # A release sorts after its pre-releases; numeric identifiers sort before text ones, and
        # compare as numbers of any length (by digit count, then digits).
        pre = tuple((0, len(n), n) if p.isdigit() else (1, 0, p)
                    for p in self.prerelease for n in (p.lstrip("0") or "0",))
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Version) -> bool:
        return self.key() <= other.key()


def parse_version(tag: str) -> Version | None:
    """Tags like 5, v5.1, 5.1.2, v5.2.0-rc.1 (missing parts are 0); None otherwise."""
    m = _SEMVER.match(tag or "")
    if not m:
        return None
    major, minor, patch, pre = m.groups()
    return Version(int(major), int(minor or 0), int(patch or 0), tuple(pre.split(".")) if pre else ())
