"""SLEAP projects of several videos (a video file and an image sequence of another size),
built with sleap-io from the real fly clip, read as training labels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import sleap_io as sio

from dpk.specs import DpkError
from dpk.trainer.data import load_training_data
from dpk.trainer.labels.formats.sleap import load_slp, load_slp_videos
from tests.trainer.test_data_loading import make_spec

VIDEO_FRAMES = list(range(1295, 1305))
SEQUENCE_FRAMES = list(range(1300, 1305))
TOP, LEFT = 200, 100  # the image sequence is frame[200:1000, 100:1000]: 900x800


@pytest.fixture(scope="module")
def project(shared_data, tmp_path_factory):
    """clip.mp4 (1024x1024) + an image sequence cut from it (900x800), one .slp."""
    folder = tmp_path_factory.mktemp("multi")
    clip = shared_data / "sleap-fly-clip"
    source = sio.load_slp(str(clip / "clip.slp"), open_videos=False)
    skeleton = source.skeletons[0]
    by_index = {int(f.frame_idx): f for f in source.labeled_frames}
    reference = load_slp(clip / "clip.slp")
    (folder / "seq").mkdir()
    files = []
    for index, image in reference.iter_frames(SEQUENCE_FRAMES):
        name = folder / "seq" / f"img{index}.png"
        cv2.imwrite(str(name), image[TOP:1000, LEFT:1000])
        files.append(str(name))
    video = sio.Video(filename=str(clip / "clip.mp4"), open_backend=False)
    sequence = sio.Video.from_filename(files)  # an ImageVideo backend: what SLEAP writes

    def users(frame, shift):
        out = []
        for instance in frame.instances:
            if type(instance).__name__ != "Instance":
                continue
            points = instance.numpy()[:, :2] - shift
            out.append(sio.Instance.from_numpy(points, skeleton=skeleton, track=instance.track))
        return out

    frames = [
        sio.LabeledFrame(video=video, frame_idx=i, instances=users(by_index[i], 0))
        for i in VIDEO_FRAMES
    ] + [
        sio.LabeledFrame(
            video=sequence, frame_idx=n, instances=users(by_index[i], np.array([LEFT, TOP]))
        )
        for n, i in enumerate(SEQUENCE_FRAMES)
    ]
    path = folder / "two_videos.slp"
    labels = sio.Labels(
        labeled_frames=frames,
        videos=[video, sequence],
        skeletons=[skeleton],
        tracks=source.tracks,
    )
    sio.save_slp(labels, str(path))
    return path, reference


def test_each_video_is_read_with_its_own_frames(project):
    path, reference = project
    first, second = load_slp_videos(path)
    assert first.video_path.name == "clip.mp4" and first.image_files is None
    assert first.frame_indices.tolist() == VIDEO_FRAMES
    assert second.image_files is not None and len(second.image_files) == 5
    assert second.frame_indices.tolist() == list(range(5))
    np.testing.assert_array_equal(
        second.instances[0], reference.instances[1300] - np.array([LEFT, TOP], np.float32)
    )
    ((_, image),) = list(second.iter_frames([0]))
    assert image.shape[:2] == (800, 900)
    assert second.source(0).endswith("img1300.png")
    with pytest.raises(DpkError, match="labels on 2 videos; read it with load_slp_videos"):
        load_slp(path)


def test_crops_come_from_frames_of_each_size(project):
    path, _ = project
    names = load_slp_videos(path)[0].skeleton.names
    spec = make_spec(
        names,
        96,
        96,
        {"path": str(path), "crop": {"anchor": "thorax", "size": 96}},
        validation_fraction=0.3,
    )
    train, validation = load_training_data(spec, path.parent)
    labels = [*zip(train.sources, train.images, train.keypoints, strict=True)]
    labels += [*zip(validation.sources, validation.images, validation.keypoints, strict=True)]
    assert len(labels) == 2 * (len(VIDEO_FRAMES) + len(SEQUENCE_FRAMES))
    assert len(validation) > 0
    by_source: dict[str, list] = {}
    for source, image, keypoints in labels:
        by_source.setdefault(source, []).append((image, keypoints))
    # the same animal cut from the video and from the smaller image: the same pixels and points
    video_key = next(s for s in by_source if s.endswith("clip.mp4#frame=1300"))
    image_key = next(s for s in by_source if s.endswith("img1300.png"))
    for (a_image, a_points), (b_image, b_points) in zip(
        by_source[video_key], by_source[image_key], strict=True
    ):
        np.testing.assert_array_equal(a_image, b_image)
        np.testing.assert_array_equal(a_points, b_points)


def test_whole_frames_of_different_sizes_are_refused(project, tmp_path):
    path, _ = project
    labels = sio.load_slp(str(path), open_videos=False)
    for frame in labels.labeled_frames:
        frame.instances = frame.instances[:1]
    single = tmp_path / "single.slp"
    sio.save_slp(labels, str(single))
    names = load_slp_videos(single)[0].skeleton.names
    spec = make_spec(names, 1024, 1024, {"path": str(single)}, validation_fraction=0.0)
    with pytest.raises(DpkError, match=r"different sizes.*add data\.crop"):
        load_training_data(spec, tmp_path)


def test_embedded_frames_of_both_videos(project, tmp_path):
    path, _ = project
    package = tmp_path / "two_videos.pkg.slp"
    sio.save_slp(sio.load_slp(str(path)), str(package), embed="user")
    plain = load_slp_videos(path)
    embedded = load_slp_videos(package)
    assert [p.embedded for p in embedded] == [True, True]
    assert len({p.video_key for p in embedded}) == 2
    for a, b in zip(plain, embedded, strict=True):
        assert a.frame_indices.tolist() == b.frame_indices.tolist()
        first = int(a.frame_indices[0])
        ((_, image_a),) = list(a.iter_frames([first]))
        ((_, image_b),) = list(b.iter_frames([first]))
        assert image_a.shape == image_b.shape
        assert np.abs(image_a.astype(int) - image_b.astype(int)).mean() < 2
