"""Reading and writing specs as YAML or JSON, with errors that point at the file's lines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from dpk.specs._base import issues_from_validation_error
from dpk.specs.errors import SpecError, SpecIssue
from dpk.specs.files import write_text_atomic
from dpk.specs.model import ModelSpec

__all__ = [
    "dump_spec",
    "duplicate_keys",
    "load_model_file",
    "load_spec",
    "parse_model",
    "parse_spec",
    "save_spec",
    "spec_json_schema",
    "write_text_atomic",
]

M = TypeVar("M", bound=BaseModel)


class _SafeDumper(yaml.SafeDumper):
    """Dumper that writes tuples as lists and keeps key order."""


_SafeDumper.add_representer(tuple, lambda d, v: d.represent_list(list(v)))


def _yaml_line(text: str, location: str) -> int | None:
    """1-based line of the node at a dotted/indexed path in YAML text, if it can be found."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", location.split(" ")[0]):
        if node is None:
            break
        line = node.start_mark.line + 1
        if part.startswith("[") and isinstance(node, yaml.SequenceNode):
            index = int(part[1:-1])
            node = node.value[index] if index < len(node.value) else None
        elif isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if getattr(k, "value", None) == part]
            if not match:
                break
            key, node = match[0]
            line = key.start_mark.line + 1
        else:
            break
    return line


def _key_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else node.tag


def duplicate_keys(text: str) -> list[SpecIssue]:
    """Keys that appear twice in one YAML mapping (YAML loaders keep the last silently).

    Args:
        text: YAML (or JSON) text.

    Returns:
        One issue per repeated key, at the repeat's line, naming the key's path and the
        lines of both occurrences; empty when there is none or the text is not YAML
        (parsing reports that).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    issues: list[SpecIssue] = []
    stack: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                name = _key_text(key)
                where = f"{path}.{name}" if path else name
                line = key.start_mark.line + 1
                ident = (key.tag, name)
                if ident in first:
                    lines = (
                        f"twice on line {line}"
                        if first[ident] == line
                        else f"at line {first[ident]} and again at line {line}"
                    )
                    issues.append(
                        SpecIssue(where, f"key {name!r} appears {lines}: keep one of them", line)
                    )
                else:
                    first[ident] = line
                stack.append((value, where))
    return sorted(issues, key=lambda issue: issue.line or 0)


def _parse_text(text: str, source: str | None, fmt: str) -> Any:
    try:
        if fmt == "json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
        duplicates = duplicate_keys(text)
        if duplicates:
            raise SpecError(duplicates, source)
        return data
    except json.JSONDecodeError as error:
        raise SpecError(
            [SpecIssue("", f"not valid JSON: {error.msg}", error.lineno)], source
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError([SpecIssue("", f"not valid YAML: {problem}", line)], source) from None


def _format_of(path: Path) -> str:
    return "json" if path.suffix.lower() == ".json" else "yaml"


def parse_model(model: type[M], text: str, *, source: str | None = None, fmt: str = "yaml") -> M:
    """Validate YAML or JSON text as ``model``, reporting every problem with its line."""
    data = _parse_text(text, source, fmt)
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "nothing"
        raise SpecError([SpecIssue("", f"expected a mapping of fields, found {kind}")], source)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        issues = issues_from_validation_error(error)
        if fmt == "yaml":
            issues = [
                SpecIssue(i.location, i.message, _yaml_line(text, i.location)) for i in issues
            ]
        raise SpecError(issues, source) from None


def parse_spec(text: str, *, source: str | None = None, fmt: str = "yaml") -> ModelSpec:
    """Parse a :class:`ModelSpec` from YAML (or JSON, which is YAML too) text."""
    return parse_model(ModelSpec, text, source=source, fmt=fmt)


def load_model_file(model: type[M], path: str | Path) -> M:
    """Read any spec model from a ``.yaml``/``.yml``/``.json`` file.

    Raises:
        SpecError: The file cannot be read or does not validate; names the file and lines.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([SpecIssue("", "file not found")], str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError([SpecIssue("", f"cannot read the file ({error})")], str(path)) from None
    return parse_model(model, text, source=str(path), fmt=_format_of(path))


def load_spec(path: str | Path) -> ModelSpec:
    """Read a :class:`ModelSpec` from a YAML or JSON file."""
    return load_model_file(ModelSpec, path)


def dump_spec(spec: BaseModel, fmt: str = "yaml") -> str:
    """Serialise a spec to YAML or JSON text; :func:`parse_spec` reads it back unchanged."""
    data = spec.model_dump(mode="json")
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.dump(data, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True)


def save_spec(spec: BaseModel, path: str | Path) -> None:
    """Write a spec to ``path`` as YAML, or JSON when the name ends in ``.json``."""
    path = Path(path)
    write_text_atomic(path, dump_spec(spec, _format_of(path)))


def spec_json_schema(model: type[BaseModel] = ModelSpec) -> dict[str, Any]:
    """The JSON Schema of a spec model (default: :class:`ModelSpec`)."""
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
