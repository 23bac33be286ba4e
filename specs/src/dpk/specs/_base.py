"""The strict base model shared by every spec, and conversion of Pydantic errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from dpk.specs.errors import SpecError, SpecIssue

__all__ = [
    "UNION_TAGS",
    "Problems",
    "StrictModel",
    "issues_from_validation_error",
    "validate_or_raise",
]


class StrictModel(BaseModel):
    """Base for all specs: unknown fields are refused, values are validated on assignment."""

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        validate_default=True,
        use_attribute_docstrings=True,
        populate_by_name=True,
    )


class Problems(ValueError):
    """Raised by a model validator to report several problems, each at its own field path.

    Args:
        problems: ``(path, message)`` pairs; the path is relative to the model that raised.
    """

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in problems))


UNION_TAGS: dict[str, set[str]] = {}
"""Field name -> tags of the discriminated union it holds. Pydantic puts the tag in the
error path (``architecture.leap.filters``); users never wrote it, so it is removed."""


def _strip_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for part in loc:
        if out and isinstance(part, str) and part in UNION_TAGS.get(str(out[-1]), ()):
            continue
        out.append(part)
    return tuple(out)


def _location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def issues_from_validation_error(error: ValidationError, prefix: str = "") -> list[SpecIssue]:
    """Turn a Pydantic error into one :class:`SpecIssue` per problem, named by field path.

    Args:
        error: The validation error.
        prefix: Path to prepend (for a sub-model validated on its own).
    """
    issues = []
    for item in error.errors(include_url=False):
        loc = _strip_union_tags(tuple(item.get("loc", ())))
        path = _location(loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        message = item.get("msg", "invalid value")
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, Problems):
            for sub, text in cause.problems:
                full = ".".join(part for part in (path, sub) if part)
                issues.append(SpecIssue(full, text))
            continue
        if item.get("type") == "extra_forbidden":
            message = "unknown field (check its spelling, or remove it)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        issues.append(SpecIssue(path, message))
    return issues


def validate_or_raise(model: type[BaseModel], data: Any, source: str | None = None) -> Any:
    """Validate ``data`` as ``model``, raising :class:`SpecError` with every problem found."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise SpecError(issues_from_validation_error(error), source=source) from None
