"""Writing output files safely; the helpers live in :mod:`dpk.specs.files` (one home).

Kept so that ``from dpk.runtime.atomic import atomic_output`` goes on working.
"""

from __future__ import annotations

from dpk.specs.files import (
    OutputError,
    atomic_output,
    check_outputs,
    check_writable,
    same_file,
    write_bytes_atomic,
    write_text_atomic,
)

__all__ = [
    "OutputError",
    "atomic_output",
    "check_outputs",
    "check_writable",
    "same_file",
    "write_bytes_atomic",
    "write_text_atomic",
]
