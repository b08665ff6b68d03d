"""Readers for what a registry sent, which may hold any JSON type anywhere: each gives the
expected type or an empty value, never an exception."""
from __future__ import annotations


def as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value) -> list:
    return value if isinstance(value, list) else []


def as_str(value) -> str | None:
    return value if isinstance(value, str) and value else None


def as_size(value) -> int:
    """A byte count: a non-negative integer below 2^53, else 0 ("abc", -1, 1e300, true…)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53 else 0
