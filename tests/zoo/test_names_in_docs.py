"""Every zoo name the documentation and the command's help texts mention is a real model."""

from __future__ import annotations

import argparse
import re

import pytest

from dpk.zoo import Registry
from tests.conftest import ROOT

pytestmark = pytest.mark.real_registry

ZOO_NAME = re.compile(
    r"(?<![\w.])(?:stacked_densenet|stacked_hourglass|leap|deeplabcut)\.[a-z0-9_]+"
    r"(?::[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
)
"""A zoo name, ``architecture.dataset[:tag]``, as docs write it."""

DOCS = sorted(
    [ROOT / "README.md", *ROOT.glob("*/README.md"), *(ROOT / "docs").rglob("*.md")],
)


def _known() -> set[str]:
    names = set()
    for entry in Registry.shipped_registry():
        names.update({entry.name, entry.base_name})
    return names


def _help_texts(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> list[str]:
    texts = [parser.description or "", parser.epilog or ""]
    for action in parser._actions:
        texts.append(action.help or "")
        if isinstance(action, argparse._SubParsersAction):
            texts += [choice.help or "" for choice in action._choices_actions]
            for name, sub in action.choices.items():
                if name not in skip:  # top-level verbs only
                    texts += _help_texts(sub)
    return texts


def _unknown(text: str) -> set[str]:
    known = _known()
    return {n for n in ZOO_NAME.findall(text) if n not in known and n.split(":")[0] not in known}


def test_the_pattern_finds_names():
    assert ZOO_NAME.findall("dpk zoo pull stacked_densenet.fly13, leap.fly:v2.") == [
        "stacked_densenet.fly13",
        "leap.fly:v2",
    ]
    assert _unknown("stacked_densenet.fly and stacked_densenet.fly13") == {"stacked_densenet.fly"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_name_only_real_models(doc):
    assert not _unknown(doc.read_text(encoding="utf-8")), doc


def test_zoo_and_trainer_help_name_only_real_models():
    from dpk.runtime.cli import build_parser

    runtime_verbs = ("predict", "info", "render", "plot", "benchmark", "doctor")
    texts = _help_texts(build_parser(), skip=runtime_verbs)
    assert not _unknown("\n".join(texts))


def test_every_help_text_names_only_real_models():
    from dpk.runtime.cli import build_parser

    assert not _unknown("\n".join(_help_texts(build_parser())))
