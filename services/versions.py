"""Version-aware ordering of tags, and semantic versions."""
from __future__ import annotations

import re

_CHUNK = re.compile(r"(\d+)")


def natural_key(tag: str) -> list:
    """Sort key where v5.10 comes after v5.9 (numbers compare as numbers).

    re.split with a capturing group alternates text and digits, so positions always hold the
    same type and the lists compare safely.
    """
    parts = _CHUNK.split(tag)
    parts[1::2] = map(int, parts[1::2])
    return parts
