"""Small input checks shared by forms and the CLI; each returns a message or None."""
from __future__ import annotations

import re
import unicodedata

# What addresses really contain: a dot-atom local part (RFC 5322, no quoted strings or comments)
# and a domain of DNS labels.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_RE = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$")


def check_email(value: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return "Enter an email address."
    if len(value) > 254:
        return "An email address has at most 254 characters."
    if not EMAIL_RE.match(value):
        return "Enter a valid email address, like alice@example.com."
    return None


def check_password(value: str) -> str | None:
    if not value:
        return "Enter a password."
    if len(value) < 8:
        return "Use at least 8 characters."
    if len(value) > 256:
        return "A password has at most 256 characters."
    return None


def check_team_name(value: str) -> str | None:
    """A team's display name: what people call it ("Shop & Co"); its slug is made from it."""
    value = (value or "").strip()
    if not value:
        return "Enter a team name."
    if len(value) > 100 or any(ord(c) < 32 for c in value):
        return "A team name has at most 100 characters, on one line."
    if not slugify(value):
        return "Use at least one letter or digit in the team name."
    return None


def check_team_slug(value: str) -> str | None:
    """The slug names the team's Kubernetes namespace (<prefix><slug>, berth-<slug> by default): a DNS label."""
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?", value or ""):
        return ("Use 1–40 lowercase letters, digits and dashes, starting and ending with a letter or digit "
                "(it names the team's Kubernetes namespace).")
    return None


def slugify(text: str) -> str:
    """"Shop & Co" -> "shop-co": ASCII letters and digits, dashes between, at most 40 characters."""
    folded = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:40].rstrip("-")


def check_object_name(value: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return "Enter a name."
    if len(value) > 63:
        return "A name has at most 63 characters."
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._-]*", value):
        return "Use letters, digits, spaces, dots, dashes and underscores."
    return None
