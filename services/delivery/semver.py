"""Version ranges as node-semver defines them (its README's "Ranges" and `satisfies()`), plus the
spellings Masterminds/semver v3 users bring from Flux, Argo CD Image Updater and Keel.

Grammar (node-semver's, with Masterminds' additions marked *):

    range-set  ::= range ( '||' range )*
    range      ::= hyphen | simple ( ( ' ' | ',' * ) simple )*    * ',' is AND
    hyphen     ::= partial ' - ' partial ( ( ' ' | ',' * ) simple )*          * more after it
    simple     ::= primitive | partial | tilde | caret
    primitive  ::= ( '<' | '>' | '>=' | '<=' | '=' | '=>' * | '=<' * | '!=' * ) partial
    tilde      ::= ( '~' | '~>' ) partial
    caret      ::= '^' partial
    partial    ::= 'v'? xr ( '.' xr ( '.' xr qualifier? )? )?
                 | 'v'? nr ( '.' nr )? '-' pre ( '+' build )?                 * 1.0-beta = 1.0.0-beta
    xr         ::= 'x' | 'X' | '*' | '0' | [1-9][0-9]*
    qualifier  ::= ( '-' pre )? ( '+' build )?

Each simple desugars to comparators exactly as node-semver does (with `includePrerelease`, lower
bounds of partial versions become `-0`, the lowest pre-release; upper bounds are always `-0`), and
a version with a pre-release passes a comparator set without `includePrerelease` only when one of
its comparators carries a pre-release of the same major.minor.patch. Where Masterminds differs
(it lets a range with any pre-release match pre-releases of other versions), Berth follows
node-semver; README has the table."""
from __future__ import annotations

import re
from dataclasses import dataclass

from services.delivery.versions import Version
from services.errors import BerthError

MAX_LENGTH = 256
_NUMBER = re.compile(r"0|[1-9][0-9]{0,29}")
_IDENT = re.compile(r"[0-9A-Za-z-]+")
_OPERATORS = (">=", "<=", "=>", "=<", "!=", "~>", ">", "<", "=", "~", "^")
_SAME = {"=>": ">=", "=<": "<=", "~>": "~"}
LOWEST = ("0",)  # the pre-release "-0": below every other pre-release of a version


class RangeError(BerthError, ValueError):
    """A range that cannot be parsed; the message names the position and what was expected."""


@dataclass(frozen=True)
class Partial:
    """A version with parts that may be missing or wild (None): 1, 1.2, 1.x, 1.2.3-rc.1."""

    major: int | None
    minor: int | None = None
    patch: int | None = None
    prerelease: tuple = ()

    def full(self, prerelease: tuple = ()) -> Version:
        return Version(self.major or 0, self.minor or 0, self.patch or 0, prerelease)


@dataclass(frozen=True)
class Comparator:
    op: str  # >=, >, <=, <, =, != ; "" for any version
    version: Version | None = None

    def test(self, v: Version) -> bool:
        if not self.op:
            return True
        a, b = v.key(), self.version.key()
        return {">=": a >= b, ">": a > b, "<=": a <= b, "<": a < b, "=": a == b, "!=": a != b}[self.op]

    def __str__(self) -> str:
        if not self.op:
            return "*"
        v = self.version
        pre = "-" + ".".join(v.prerelease) if v.prerelease else ""
        return f"{self.op}{v.major}.{v.minor}.{v.patch}{pre}"


ANY = Comparator("")


class _Parser:
    def __init__(self, text: str):
        self.text, self.i = text, 0

    def fail(self, expected: str) -> RangeError:
        found = self.text[self.i:self.i + 12]
        where = f"'{found}'" if found else "the end"
        return RangeError(f"Expected {expected} at position {self.i + 1}, found {where}.")

    def spaces(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1

    def peek(self, *options: str) -> str | None:
        return next((o for o in options if self.text.startswith(o, self.i)), None)

    def number_or_x(self, what: str) -> int | None:
        if self.i < len(self.text) and self.text[self.i] in "xX*":
            self.i += 1
            return None
        m = _NUMBER.match(self.text, self.i)
        if not m:
            raise self.fail(what)
        end = m.end()
        if end < len(self.text) and self.text[end].isdigit():  # 01: node-semver has no leading zeros
            raise self.fail(f"{what} without leading zeros")
        self.i = end
        return int(m.group())

    def identifiers(self, what: str) -> tuple:
        parts = []
        while True:
            m = _IDENT.match(self.text, self.i)
            if not m:
                raise self.fail(what)
            part = m.group()
            if part.isdigit() and len(part) > 1 and part[0] == "0" and what.startswith("a pre-release"):
                raise self.fail("a pre-release identifier without leading zeros")
            parts.append(part)
            self.i = m.end()
            if not self.peek("."):
                return tuple(parts)
            self.i += 1

    def partial(self) -> Partial:
        if self.peek("v", "V"):
            self.i += 1
        major = self.number_or_x("a version number, x or *")
        minor = patch = None
        parts = 1
        if self.peek("."):
            self.i += 1
            minor = self.number_or_x("a minor version number, x or *")
            parts = 2
            if self.peek("."):
                self.i += 1
                patch = self.number_or_x("a patch version number, x or *")
                parts = 3
        if (major is None and minor is not None) or (minor is None and parts > 2 and patch is not None):
            raise RangeError(f"'{self.text.strip()}': a number cannot follow x or * in a version "
                             f"(near position {self.i}).")
        prerelease = ()
        if self.peek("-") and not self.peek("- ", "-\t"):
            start = self.i
            self.i += 1
            prerelease = self.identifiers("a pre-release identifier (letters, digits, -)")
            if None in (major, minor, patch)[:parts]:
                raise RangeError(f"A pre-release belongs to one version, not to x or * (position {start + 1}): "
                                 "write e.g. 1.0.0-beta.")
            # Masterminds and node-semver read a partial version with a pre-release as complete:
            # 1.0-beta is 1.0.0-beta, 0-0 is 0.0.0-0.
            minor, patch, parts = minor or 0, patch or 0, 3
        if self.peek("+") and parts == 3:
            self.i += 1
            self.identifiers("a build identifier (letters, digits, -)")  # ignored, as node-semver does
        if self.i < len(self.text) and self.text[self.i].isalpha():
            word = re.match(r"[0-9A-Za-z.+-]*", self.text[self.i:]).group()
            raise RangeError(f"Expected '-' before the pre-release at position {self.i + 1} (found '{word[:12]}'): "
                             "Berth reads ranges strictly, as node-semver does without its loose option (write "
                             "e.g. 1.0.3-alpha).")
        if self.i < len(self.text) and self.text[self.i] not in " \t,|":
            raise self.fail("a space, ',' or '||' after the version")
        if major is None:
            return Partial(None)
        return Partial(major, minor, patch if minor is not None else None, prerelease)

    def at_end_of_range(self) -> bool:
        return self.i >= len(self.text) or self.peek("||") is not None


def _xrange(op: str, p: Partial, incl: bool) -> list[Comparator]:
    """node-semver's replaceXRange, for a comparator whose version may be partial."""
    z = LOWEST if incl else ()
    x_major, x_minor = p.major is None, p.major is None or p.minor is None
    any_x = x_minor or p.patch is None
    if op == "=" and any_x:
        op = ""
    if x_major:
        return [Comparator("<", Version(0, 0, 0, LOWEST))] if op in (">", "<") else [ANY]
    if op and any_x:
        major, minor = p.major, 0 if x_minor else p.minor
        if op == ">":
            op = ">="
            if x_minor:
                major, minor = major + 1, 0
            else:
                minor += 1
        elif op == "<=":
            op = "<"
            if x_minor:
                major += 1
            else:
                minor += 1
        pre = LOWEST if op == "<" else z
        return [Comparator(op, Version(major, minor, 0, pre))]
    if x_minor:
        return [Comparator(">=", Version(p.major, 0, 0, z)), Comparator("<", Version(p.major + 1, 0, 0, LOWEST))]
    if p.patch is None:
        return [Comparator(">=", Version(p.major, p.minor, 0, z)),
                Comparator("<", Version(p.major, p.minor + 1, 0, LOWEST))]
    return [Comparator(op or "=", p.full(p.prerelease))]


def _tilde(p: Partial, incl: bool) -> list[Comparator]:
    z = LOWEST if incl else ()
    if p.major is None:
        return [ANY]
    if p.minor is None:
        return [Comparator(">=", Version(p.major, 0, 0, z)), Comparator("<", Version(p.major + 1, 0, 0, LOWEST))]
    upper = Comparator("<", Version(p.major, p.minor + 1, 0, LOWEST))
    if p.patch is None:
        return [Comparator(">=", Version(p.major, p.minor, 0, z)), upper]
    return [Comparator(">=", p.full(p.prerelease)), upper]


def _caret(p: Partial, incl: bool) -> list[Comparator]:
    z = LOWEST if incl else ()
    if p.major is None:
        return [ANY]
    if p.minor is None:
        return [Comparator(">=", Version(p.major, 0, 0, z)), Comparator("<", Version(p.major + 1, 0, 0, LOWEST))]
    if p.patch is None:
        upper = Version(0, p.minor + 1, 0, LOWEST) if p.major == 0 else Version(p.major + 1, 0, 0, LOWEST)
        return [Comparator(">=", Version(p.major, p.minor, 0, z)), Comparator("<", upper)]
    if p.major == 0 and p.minor == 0:
        upper = Version(0, 0, p.patch + 1, LOWEST)
    elif p.major == 0:
        upper = Version(0, p.minor + 1, 0, LOWEST)
    else:
        upper = Version(p.major + 1, 0, 0, LOWEST)
    low_pre = p.prerelease or (z if p.major == 0 else ())
    return [Comparator(">=", p.full(low_pre)), Comparator("<", upper)]


def _hyphen(a: Partial, b: Partial, incl: bool) -> list[Comparator]:
    z = LOWEST if incl else ()
    out = []
    if a.major is not None:
        if a.minor is None:
            out.append(Comparator(">=", Version(a.major, 0, 0, z)))
        elif a.patch is None:
            out.append(Comparator(">=", Version(a.major, a.minor, 0, z)))
        else:
            out.append(Comparator(">=", a.full(a.prerelease or z)))
    if b.major is not None:
        if b.minor is None:
            out.append(Comparator("<", Version(b.major + 1, 0, 0, LOWEST)))
        elif b.patch is None:
            out.append(Comparator("<", Version(b.major, b.minor + 1, 0, LOWEST)))
        elif b.prerelease:
            out.append(Comparator("<=", b.full(b.prerelease)))
        elif incl:
            out.append(Comparator("<", Version(b.major, b.minor, b.patch + 1, LOWEST)))
        else:
            out.append(Comparator("<=", b.full()))
    return out or [ANY]


def _not_in(p: Partial) -> list[list[Comparator]]:
    """Masterminds' `!=1.2` (not any 1.2.x) as alternatives: below the range, or above it."""
    if p.major is None:
        return [[Comparator("<", Version(0, 0, 0, LOWEST))]]
    if p.patch is not None:
        return [[Comparator("!=", p.full(p.prerelease))]]
    low = Version(p.major, p.minor or 0, 0, LOWEST)
    high = Version(p.major + 1, 0, 0, LOWEST) if p.minor is None else Version(p.major, p.minor + 1, 0, LOWEST)
    return [[Comparator("<", low)], [Comparator(">=", high)]]


def _range(parser: _Parser, incl: bool) -> list[list[Comparator]]:
    """One alternative (between ||) as a list of comparator sets (several only for `!=` partials)."""
    sets: list[list[Comparator]] = [[]]
    parser.spaces()
    first = True
    while not parser.at_end_of_range():
        if not first:
            if parser.peek(",", " ", "\t"):
                while parser.peek(",", " ", "\t"):
                    parser.i += 1
                if parser.at_end_of_range():
                    break
            else:
                raise parser.fail("a space or ',' between comparators")
        op = parser.peek(*_OPERATORS) or ""
        parser.i += len(op)
        op = _SAME.get(op, op)
        parser.spaces()
        if parser.at_end_of_range() or parser.peek(","):
            raise parser.fail(f"a version after '{op}'" if op else "a version")
        p = parser.partial()
        if not op and first:
            mark = parser.i
            parser.spaces()
            if parser.peek("- ", "-\t") and parser.i > mark:
                parser.i += 1
                parser.spaces()
                if parser.at_end_of_range():
                    raise parser.fail("a version number, x or * after ' - '")
                q = parser.partial()
                # More comparators may follow in the same set (1.0.0 - 2.0.0 <=1.5.0), as in Masterminds.
                sets = [s + _hyphen(p, q, incl) for s in sets]
                first = False
                continue
            parser.i = mark
        if op == "!=":
            sets = [s + alt for s in sets for alt in _not_in(p)]
        else:
            comps = _tilde(p, incl) if op == "~" else _caret(p, incl) if op == "^" else _xrange(op, p, incl)
            sets = [s + comps for s in sets]
        first = False
    return sets


def parse_range(text: str, include_prereleases: bool = False) -> list[list[Comparator]]:
    """'>=5.0.0 <6 || ^7' -> comparator sets, any of which may match; RangeError otherwise. An empty
    range (or an empty alternative) is any version, as in both peers; the rule form still asks for
    a pattern (triggers.check_pattern)."""
    text = (text or "").strip()
    if not text:
        return [[ANY]]
    if len(text) > MAX_LENGTH:
        raise RangeError(f"A range has at most {MAX_LENGTH} characters.")
    parser = _Parser(text)
    alternatives = []
    while True:
        sets = _range(parser, include_prereleases)
        alternatives += [s or [ANY] for s in sets]
        if parser.i >= len(text):
            return alternatives
        parser.i += 2  # ||


def satisfies(version: Version, alternatives: list[list[Comparator]], include_prereleases: bool = False) -> bool:
    """node-semver's satisfies(): some set passes; a pre-release passes without `include_prereleases`
    only when a comparator of that set names a pre-release of the same major.minor.patch."""
    for comparators in alternatives:
        if not all(c.test(version) for c in comparators):
            continue
        if version.prerelease and not include_prereleases:
            core = (version.major, version.minor, version.patch)
            if not any(c.op and c.version.prerelease and (c.version.major, c.version.minor, c.version.patch) == core
                       for c in comparators):
                continue
        return True
    return False


def describe(alternatives: list[list[Comparator]]) -> str:
    """The comparators a range means, as node-semver prints them: '>=5.0.0 <6.0.0-0 || >=7.0.0'."""
    return " || ".join(" ".join(str(c) for c in s) for s in alternatives)
