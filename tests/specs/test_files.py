"""dpk.specs.files: the one home of atomic writes and output checks for every dpk part."""

from __future__ import annotations

import errno
import os

import pytest

from dpk.specs.files import (
    OutputError,
    atomic_output,
    check_outputs,
    check_writable,
    same_file,
    write_bytes_atomic,
    write_text_atomic,
)


def test_same_file_sees_symlinks_hard_links_and_spellings(tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(b"x")
    (tmp_path / "link").symlink_to(data)
    os.link(data, tmp_path / "hard")
    assert same_file(tmp_path / "link", data)
    assert same_file(tmp_path / "hard", data)
    assert same_file(tmp_path / "sub" / ".." / "data.bin", data)
    assert same_file(tmp_path / "new", tmp_path / "." / "new")  # neither exists
    assert not same_file(tmp_path / "new", data)


@pytest.mark.parametrize("kind", ["same", "symlink", "hardlink"])
def test_an_output_that_is_an_input_is_refused(tmp_path, kind):
    video = tmp_path / "video.mp4"
    video.write_bytes(b"precious")
    output = {"same": video, "symlink": tmp_path / "l.mp4", "hardlink": tmp_path / "h.mp4"}[kind]
    if kind == "symlink":
        output.symlink_to(video)
    elif kind == "hardlink":
        os.link(video, output)
    with pytest.raises(OutputError, match=r"is an input of this command.*another output name"):
        check_writable(output, inputs=[None, video])
    with pytest.raises(OutputError), atomic_output(output, inputs=[video]) as tmp:
        tmp.write_bytes(b"overlay")
    assert video.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {video.name, output.name}
    )  # no temporary file


def test_two_outputs_that_are_one_file_are_refused(tmp_path):
    (tmp_path / "a.csv").write_text("old")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    with pytest.raises(OutputError, match="same file as the output"):
        check_outputs([tmp_path / "a.csv", tmp_path / "b.csv"])
    with pytest.raises(OutputError, match="same file as the output"):
        check_outputs([tmp_path / "x.csv", tmp_path / "." / "x.csv"])
    assert check_outputs([tmp_path / "x.csv", tmp_path / "y.csv"])


def test_a_read_only_output_is_refused(tmp_path):
    target = tmp_path / "p.csv"
    target.write_text("keep me")
    target.chmod(0o444)
    with pytest.raises(OutputError, match="is read-only; remove it or choose another name"):
        write_text_atomic(target, "new")
    assert target.read_text() == "keep me"


def test_a_symlinked_output_is_written_through_the_link(tmp_path):
    real = tmp_path / "real" / "p.csv"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "p.csv"
    link.symlink_to(real)
    write_text_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert sorted(p.name for p in real.parent.iterdir()) == ["p.csv"]


def test_a_failing_writer_leaves_nothing_and_becomes_one_output_error(tmp_path):
    target = tmp_path / "out.h5"
    target.write_bytes(b"previous")
    full = r"out\.h5: could not be written.*free some space"
    with pytest.raises(OutputError, match=full), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(KeyboardInterrupt), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"


def test_the_temporary_name_keeps_the_suffix_or_takes_the_given_one(tmp_path):
    with atomic_output(tmp_path / "v.mp4") as tmp:
        assert tmp.name.startswith(".v.mp4.") and tmp.name.endswith(".tmp.mp4")
        tmp.write_bytes(b"1")
    with atomic_output(tmp_path / "m.onnx", tmp_suffix=".part") as tmp:
        assert tmp.name.endswith(".part") and ".tmp" not in tmp.name
        tmp.write_bytes(b"1")
