"""Errors a user can act on.

Every part of dpk raises subclasses of :class:`DpkError` for problems caused by input
(a file, a spec, a model, a video). The ``dpk`` command prints their message on one
line and exits with a non-zero status, without a traceback; anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DpkError", "DpkWarning", "SpecError", "SpecIssue"]


class DpkError(Exception):
    """An error caused by input that the user can fix; its message says how."""


class DpkWarning(UserWarning):
    """Something about the input worth knowing that does not stop the work; the ``dpk``
    command prints each one as a single line (``dpk.zoo.errors.warnings_as_lines``)."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem found in a spec or a skeleton.

    Attributes:
        location: Where the problem is: a dotted field path (``architecture.growth_rate``)
            or a row reference (``row 14 (midlegR3)``).
        message: What is wrong and, where possible, how to fix it.
        line: Line number in the source file, when known.
    """

    location: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        where += [self.location] if self.location else []
        return ": ".join([*where, self.message])


class SpecError(DpkError, ValueError):
    """A spec, skeleton or registry that does not validate.

    Holds every problem found, not only the first, so that a user can fix them all in
    one go.

    Attributes:
        issues: The problems, in the order they were found.
        source: The file the spec came from, when it came from a file.
    """

    def __init__(self, issues: Iterable[SpecIssue], source: str | None = None):
        self.issues = list(issues)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        head = f"{self.source}: " if self.source else ""
        if len(self.issues) == 1:
            return f"{head}{self.issues[0]}"
        lines = [f"{head}{len(self.issues)} problems:"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)
