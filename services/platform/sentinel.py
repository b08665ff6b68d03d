"""The one "not passed" marker, for arguments where None is a real value."""
from __future__ import annotations

import enum
from typing import Final, Literal


class _NotPassed(enum.Enum):
    NOT_PASSED = "not passed"

    def __repr__(self) -> str:
        return "NOT_PASSED"


NOT_PASSED: Final = _NotPassed.NOT_PASSED
NotPassed = Literal[_NotPassed.NOT_PASSED]
