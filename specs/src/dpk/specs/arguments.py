"""Command-line argument types shared by every package's ``dpk`` verbs.

One home for the checks, so that ``dpk predict --threads 0`` and ``dpk train --threads 0``
answer with the same line.
"""

from __future__ import annotations

import argparse

__all__ = ["non_negative_int", "positive_int"]


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts of 1 or more.

    Raises:
        argparse.ArgumentTypeError: The text is not a whole number, or is below 1.
    """
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def non_negative_int(text: str) -> int:
    """An argparse ``type`` for counts of 0 or more.

    Raises:
        argparse.ArgumentTypeError: The text is not a whole number, or is negative.
    """
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more")
    return value
