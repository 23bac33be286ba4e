"""Every ``dpk`` verb prints the zoo's warnings as one clean line (not Python's format)."""

from __future__ import annotations

import warnings

import pytest

from dpk.specs.errors import DpkError
from dpk.zoo.errors import ZooWarning

MESSAGE = "registry https://example.org/r.yaml was skipped:\n  no network; using the cache"
LINE = "dpk doctor: warning: registry https://example.org/r.yaml was skipped: no network; using the cache"


def _warn_twice(then=None):
    def report():
        warnings.warn(MESSAGE, ZooWarning, stacklevel=2)
        warnings.warn(MESSAGE, ZooWarning, stacklevel=2)
        warnings.warn("an ordinary warning", UserWarning, stacklevel=2)
        if then is not None:
            raise then
        return ["providers: CPUExecutionProvider"]

    return report


def test_a_non_zoo_verb_prints_zoo_warnings_as_one_line(run_cli, monkeypatch):
    monkeypatch.setattr("dpk.runtime.providers.provider_report", _warn_twice())
    with pytest.warns(UserWarning, match="an ordinary warning"):  # passed on, as it was
        code, out, err = run_cli("doctor")
    assert code == 0 and "CPUExecutionProvider" in out
    assert err.splitlines() == [LINE]


def test_the_warning_comes_before_the_error(run_cli, monkeypatch):
    failure = DpkError("no provider works")
    monkeypatch.setattr("dpk.runtime.providers.provider_report", _warn_twice(failure))
    with pytest.warns(UserWarning):
        code, _, err = run_cli("doctor")
    assert code == 2
    assert err.splitlines() == [LINE, "dpk doctor: error: no provider works"]
