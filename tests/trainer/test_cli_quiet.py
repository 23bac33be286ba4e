"""The trainer's verbs print dpk's lines, not TensorFlow's start-up logging."""

from __future__ import annotations

import os
import subprocess
import sys

NOISE = ("oneDNN", "cuInit", "cuda", "absl::InitializeLog", "I0000", "W0000", "E0000")


def test_evaluate_prints_no_tensorflow_log_lines(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "DPK_"))}
    run = tmp_path / "not-a-run"
    run.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "dpk.runtime.cli", "evaluate", str(run)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"dpk evaluate: error: {run} is not a dpk run folder (no spec.yaml); "
        "give the folder `dpk train` wrote"
    ], done.stderr
    assert not any(word in done.stderr for word in NOISE)


def test_quiet_tensorflow_keeps_the_users_settings(monkeypatch):
    from dpk.trainer import cli

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    cli._quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    cli._quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_train_threads_limit_tensorflow_before_it_runs():
    """`dpk train --threads N`: TensorFlow's operation pool gets N threads (set before it
    runs anything, in the process that trains)."""
    code = (
        "from dpk.trainer import cli; cli._quiet_tensorflow(); cli._limit_threads(3); "
        "import tensorflow as tf; t = tf.config.threading; "
        "print(t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["3", "1"]


def test_train_threads_must_be_positive(run_cli, tmp_path):
    code, _, err = run_cli("train", tmp_path / "spec.yaml", "--threads", "0")
    assert code == 2
    assert "--threads: 0 must be 1 or more" in err
