"""Trigger rules: which pushed tags deploy a component. User regexes run on RE2."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import re2

from services.delivery.semver import RangeError, parse_range, satisfies
from services.delivery.versions import natural_key, parse_version

KINDS = {"same_tag": "Same tag only", "regex": "Tag matches a regular expression",
         "semver": "Semantic version range"}


@dataclass(frozen=True)
class Rule:
    kind: str = "same_tag"
    pattern: str | None = None
    include_prereleases: bool = False
    no_downgrade: bool = True

    @classmethod
    def of(cls, component) -> Rule:
        return cls(component.trigger_kind, component.trigger_pattern, component.include_prereleases,
                   component.no_downgrade)


def check_pattern(kind: str, pattern: str | None) -> str | None:
    """A message when the rule's pattern is unusable; None when it is fine."""
    if kind == "same_tag":
        return None
    if not (pattern or "").strip():
        return "Enter a pattern for this rule."
    if len(pattern) > 255:
        return "A pattern has at most 255 characters."
    if kind == "regex":
        try:
            re2.compile(pattern)
        except re2.error as e:
            return f"This is not a regular expression RE2 accepts: {_re2_message(e)}"
        return None
    if kind == "semver":
        try:
            parse_range(pattern)
        except RangeError as e:
            return str(e)
        return None
    return "Choose a rule."


def _re2_message(error: Exception) -> str:
    """RE2's message in plain text (the binding hands it over as bytes: b'missing ): v5.(')."""
    detail = error.args[0] if error.args else error
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return str(detail)


def matches(rule: Rule, tag: str, component_tag: str) -> tuple[bool, str]:
    """Does a pushed tag satisfy the rule? (yes/no, why) — before any downgrade check."""
    if rule.kind == "same_tag":
        if tag == component_tag:
            return True, f"tag {tag} is the component's tag"
        return False, f"tag {tag} is not the component's tag {component_tag} (rule: same tag only)"
    if rule.kind == "regex":
        if _regex(rule.pattern).fullmatch(tag):
            return True, f"tag {tag} matches /{rule.pattern}/"
        return False, f"tag {tag} does not match /{rule.pattern}/"
    version = parse_version(tag)
    if version is None:
        return False, f"tag {tag} is not a semantic version (rule: {rule.pattern})"
    if satisfies(version, parse_range(rule.pattern, rule.include_prereleases), rule.include_prereleases):
        return True, f"version {tag} is in range {rule.pattern}"
    if version.prerelease and not rule.include_prereleases and satisfies(
            version, parse_range(rule.pattern, True), True):
        return False, f"tag {tag} is a pre-release and the rule does not include pre-releases"
    return False, f"version {tag} is not in range {rule.pattern}"


@lru_cache(maxsize=1024)
def _regex(pattern: str):
    """A rule's pattern compiled once (polling matches it against every tag of every cycle)."""
    return re2.compile(pattern)


def older(candidate: str, running: str, created=None) -> bool | None:
    """Is candidate older than running? Version order when both parse; else the images'
    created times (candidate, running) when known; None when there is no way to tell."""
    a, b = parse_version(candidate), parse_version(running)
    if a is not None and b is not None:
        return a < b
    if created and all(created):
        return created[0] < created[1]
    return None


def newest(tags: list[str]) -> str | None:
    """The highest of these tags: version order where they parse, natural order otherwise."""
    if not tags:
        return None
    return max(tags, key=_newest_first)


@dataclass(frozen=True)
class Verdict:
    """What the rule makes of one tag: whether it would deploy now, and why (not)."""

    tag: str
    deploys: bool
    reason: str
    matches: bool = True  # the rule accepts the tag (whether or not it deploys now)


def _newest_first(tag: str):
    version = parse_version(tag)
    return (version is not None, version.key() if version else (), natural_key(tag))


def explain(rule: Rule, tags: list[str], component_tag: str, running_tag: str | None) -> list[Verdict]:
    """Every tag, newest first, with what the rule makes of it: the one that would deploy (the
    newest match, never older than what runs), and for each other why not. The same checks the
    decision makes, so the preview and the delivery log agree."""
    out, winner = [], None
    for tag in sorted(set(tags), key=_newest_first, reverse=True):
        ok, why = matches(rule, tag, component_tag)
        if not ok:
            out.append(Verdict(tag, False, why, False))
        elif tag == running_tag:
            out.append(Verdict(tag, False, "already running (a push of a new digest under it redeploys)"))
        elif winner is not None:
            out.append(Verdict(tag, False, f"matches, but the newer {winner} comes first"))
        elif rule.kind != "same_tag" and rule.no_downgrade and running_tag and older(tag, running_tag):
            out.append(Verdict(tag, False, f"older than {running_tag}, which runs (never deploy an older version)"))
        else:
            winner = tag
            out.append(Verdict(tag, True, why))
    return out
