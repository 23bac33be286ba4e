"""``dpk spec``: write the JSON Schema of specs, and check spec files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import BaseModel

from dpk.specs.card import ZooEntry
from dpk.specs.data import training_issues
from dpk.specs.errors import SpecError
from dpk.specs.io import load_spec, spec_json_schema, write_text_atomic
from dpk.specs.model import ModelSpec

__all__ = ["register"]

_SCHEMAS: dict[str, type[BaseModel]] = {"model": ModelSpec, "zoo-entry": ZooEntry}


def _schema(args: argparse.Namespace) -> int:
    text = json.dumps(spec_json_schema(_SCHEMAS[args.kind]), indent=2) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        write_text_atomic(args.output, text)
        print(f"wrote {args.output}")
    return 0


def _check(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            spec = load_spec(path)
        except SpecError as error:
            failed += 1
            print(error, file=sys.stderr)
            continue
        if args.purpose == "training":
            issues = training_issues(spec.data, Path(path).parent)
            if issues:
                failed += 1
                print(SpecError(issues, str(path)), file=sys.stderr)
                continue
        arch = spec.architecture.type
        print(
            f"{path}: ok ({arch}, {spec.n_keypoints} keypoints, input "
            f"{spec.preprocessing.height}x{spec.preprocessing.width}x{spec.preprocessing.channels}, "
            f"{spec.n_output_maps} maps at stride {spec.targets.stride})"
        )
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``spec`` verb to the ``dpk`` command."""
    parser = subparsers.add_parser(
        "spec", help="write the JSON Schema of model specs, or check spec files"
    )
    verbs = parser.add_subparsers(dest="spec_command", metavar="ACTION", required=True)
    schema = verbs.add_parser("schema", help="write the JSON Schema (for editors and validators)")
    schema.add_argument("-o", "--output", help="file to write (default: standard output)")
    schema.add_argument(
        "--kind", choices=sorted(_SCHEMAS), default="model", help="which schema (default: model)"
    )
    schema.set_defaults(func=_schema)
    check = verbs.add_parser("check", help="validate spec files and print every problem found")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE", help="YAML or JSON spec")
    check.add_argument(
        "--for",
        dest="purpose",
        choices=["model", "training"],
        default="model",
        help="model: the spec alone (default; an exported model's spec has no data section); "
        "training: also a data section whose labels (and video) exist, as dpk train needs",
    )
    check.set_defaults(func=_check)
