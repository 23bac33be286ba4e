"""The labelling loop of the paper's Figure 1 on the real mirror-mouse video, as a person
runs it: sample 20 frames, label them in the browser, train a tiny model for about a
minute, predict the video, find outliers, merge them back. Asserts only what does not
depend on the trained weights."""

from __future__ import annotations

import shutil
import textwrap

import numpy as np
import pytest

from dpk.trainer.labelling.project import LABELLED, PREDICTED, Project

from .browser import browser, click_pixel, open_page, settle

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

NAMES = ["nose", "tailBase", "pawL", "pawR"]


def known_position(frame: int, keypoint: int) -> tuple[int, int]:
    """Where the scripted person clicks (whole pixels inside the 406x396 frame)."""
    return (60 + 80 * keypoint + frame % 17, 40 + 60 * keypoint + frame % 13)


def test_sample_label_train_predict_outliers_merge(tmp_path, shared_data, run_cli):
    pytest.importorskip("dpk.trainer")
    video = shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
    project_path = tmp_path / "mouse.slp"

    # 1. sample 20 frames
    code, _out, err = run_cli(
        "sample", video, "-n", "20", "-o", project_path, "--keypoints", ",".join(NAMES), "-q"
    )
    assert code == 0, err
    project = Project.load(project_path)
    assert len(project.frames) == 20

    # 2. label every frame in the browser, from known positions
    from dpk.trainer.labelling.server import AnnotationServer

    server = AnnotationServer(project)
    server.start()
    try:
        with browser() as chromium:
            page = open_page(chromium, server.url)
            page.keyboard.press("1")
            for frame in project.frames.values():
                settle(page)
                for k in range(len(NAMES)):
                    click_pixel(page, *known_position(frame.index, k))
                page.keyboard.press("Enter")  # done, next frame
            settle(page)
            assert not page.errors
    finally:
        server.shutdown()
    labelled = Project.load(project_path)
    for frame in labelled.frames.values():
        assert frame.done and (frame.state == LABELLED).all()
        expected = [known_position(frame.index, k) for k in range(len(NAMES))]
        np.testing.assert_array_equal(frame.xy, expected)

    # 3. train a tiny model on the project, for about a minute
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(f"""
        spec_version: 1
        name: mouse_loop
        skeleton:
          names: {NAMES}
          parents: [null, nose, nose, nose]
        preprocessing: {{height: 102, width: 100, channels: 1, color_order: gray}}
        architecture: {{type: stacked_densenet, n_stacks: 1, growth_rate: 8}}
        targets: {{sigma: 3.0, downsample_factor: 2, graph: true}}
        data: {{path: {project_path.name}}}
        training:
          epochs: 3
          batch_size: 4
          validation_fraction: 0.2
          seed: 0
          max_minutes: 1
          workers: 0
        """)
    )
    runs = tmp_path / "runs"
    code, _out, err = run_cli("train", spec, "--runs-dir", runs, "--quiet")
    assert code == 0, err
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    model = tmp_path / "mouse.onnx"
    code, _out, err = run_cli("export", run, "-o", model)
    assert code == 0, err

    # 4. predict the video
    poses = tmp_path / "poses.h5"
    code, _out, err = run_cli("predict", "--model", model, video, "-o", poses, "--quiet")
    assert code == 0, err
    from dpk.runtime.formats import load_predictions

    predictions = load_predictions(poses)
    assert predictions.keypoints.shape == (994, len(NAMES), 3)

    # 5. outliers into a review copy, pre-filled predictions marked unreviewed
    review = tmp_path / "review.slp"
    shutil.copy(project_path, review)
    code, out, err = run_cli("outliers", poses, video, "-p", review, "-n", "10")
    assert code == 0, err
    reviewed = Project.load(review)
    new = [f for f in reviewed.frames.values() if f.added.startswith("outlier")]
    assert len(new) == 10 and all((f.state == PREDICTED).any() for f in new)
    assert not {f.index for f in new} & {f.index for f in labelled.frames.values()}

    # 6. merge them back: every label kept, the outliers added, no conflicts
    code, out, err = run_cli("merge", project_path, review)
    assert code == 0, err
    assert "10 frames added" in out and "0 conflicts" in out
    merged = Project.load(project_path)
    assert len(merged.frames) == 30
    for key, frame in labelled.frames.items():
        np.testing.assert_array_equal(merged.frames[key].xy, frame.xy)
        assert merged.frames[key].done
