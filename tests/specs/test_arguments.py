"""The argparse types every package's verbs share."""

from __future__ import annotations

import argparse
import re

import pytest

from dpk.specs.arguments import non_negative_int, positive_int


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("12", 12), (" 3 ", 3)])
def test_positive_int_accepts_counts(text, value):
    assert positive_int(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "0 must be 1 or more"),
        ("-2", "-2 must be 1 or more"),
        ("two", "'two' is not a whole number"),
        ("1.5", "'1.5' is not a whole number"),
    ],
)
def test_positive_int_rejects_with_one_line(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{re.escape(message)}$"):
        positive_int(text)


def test_non_negative_int_takes_zero_and_rejects_below():
    assert non_negative_int("0") == 0
    with pytest.raises(argparse.ArgumentTypeError, match=r"^-1 must be 0 or more$"):
        non_negative_int("-1")
