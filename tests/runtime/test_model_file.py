"""Opening model files: metadata, signature checks, and the errors for files that are not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto

from dpk.runtime.model_file import ModelFile, ModelFileError
from dpk.runtime.predictor import Predictor
from dpk.specs import ModelCard, SpecError, TrainingData
from tests.runtime.conftest import NAMES, make_model_bytes, make_spec, write_model


def test_metadata_is_read_into_spec_card_and_facts(tmp_path):
    card = ModelCard(
        description="a fake",
        license="MIT",
        training_data=TrainingData(name="dots"),
        metrics={"error_median_px": 1.5},
    )
    path = write_model(tmp_path / "m.onnx", make_spec(), with_maps=True, card=card, flops=2_000)
    model = ModelFile.load(path)
    assert model.source == str(path)
    assert model.skeleton.names == list(NAMES)
    assert model.skeleton.swaps[1] == "earR"
    assert model.input_shape == (48, 64, 1)
    assert model.n_keypoints == 4
    assert model.outputs == ("keypoints", "maps") and model.has_maps
    assert model.flops == 2_000
    assert model.dpk_version == "0.1.0"
    assert model.card.training_data.name == "dots"
    assert model.card.metrics == {"error_median_px": 1.5}
    summary = model.summary()
    assert summary["input"]["height"] == 48 and summary["keypoints"] == list(NAMES)
    json.dumps(summary)


def test_empty_flops_and_card_are_unknown_and_default(tmp_path):
    model = ModelFile.load(make_model_bytes(flops=None), name="bytes-model")
    assert model.flops is None
    assert model.card == ModelCard()
    assert model.source == "bytes-model"


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match=r"missing\.onnx: model file not found"):
        ModelFile.load(tmp_path / "missing.onnx")


def test_empty_file_and_folder(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        ModelFile.load(tmp_path / "empty.onnx")
    with pytest.raises(ModelFileError, match="folder"):
        ModelFile.load(tmp_path)


@pytest.mark.parametrize(
    "content",
    [b"this is a text file, not a model\n", np.random.default_rng(0).bytes(3000), b"\x89HDF\r\n"],
)
def test_a_file_that_is_not_onnx_is_refused_with_how_to_export(tmp_path, content):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as error:
        Predictor(path, device="cpu")
    message = str(error.value)
    assert str(path) in message and "not an ONNX model" in message
    assert "dpk export RUN -o model.onnx" in message
    assert "\n" not in message


def test_onnx_without_dpk_metadata_is_refused_with_how_to_export(tmp_path):
    path = write_model(tmp_path / "plain.onnx", drop=["dpk.spec", "dpk.format", "dpk.card"])
    with pytest.raises(ModelFileError, match="without dpk metadata") as error:
        ModelFile.load(path)
    assert "dpk export RUN -o model.onnx" in str(error.value)
    assert str(path) in str(error.value)


def test_newer_format_asks_for_an_upgrade(tmp_path):
    path = write_model(tmp_path / "new.onnx", metadata={"dpk.format": "2"})
    with pytest.raises(ModelFileError, match="upgrade dpk-runtime"):
        ModelFile.load(path)


def test_invalid_stored_spec_names_the_file(tmp_path):
    path = write_model(tmp_path / "bad.onnx", metadata={"dpk.spec": '{"skeleton": 3}'})
    with pytest.raises(SpecError, match=r"bad\.onnx \(metadata dpk\.spec\)"):
        ModelFile.load(path)
    path = write_model(tmp_path / "bad2.onnx", metadata={"dpk.spec": "{not json"})
    with pytest.raises(SpecError, match="not valid JSON"):
        ModelFile.load(path)


def test_graph_that_contradicts_its_spec_is_refused(tmp_path):
    graph_spec = make_spec(height=48, width=64)
    other = make_spec(height=32, width=64)
    path = write_model(
        tmp_path / "mismatch.onnx", graph_spec, metadata={"dpk.spec": other.model_dump_json()}
    )
    with pytest.raises(ModelFileError, match="inconsistent"):
        ModelFile.load(path)
    five = make_spec(names=["a", "b", "c", "d", "e"], parents=None, swaps=None)
    path = write_model(
        tmp_path / "k.onnx", graph_spec, metadata={"dpk.spec": five.model_dump_json()}
    )
    with pytest.raises(ModelFileError, match="5 keypoints"):
        ModelFile.load(path)


def test_float_input_is_refused(tmp_path):
    path = write_model(tmp_path / "float.onnx", input_dtype=TensorProto.FLOAT)
    with pytest.raises(ModelFileError, match="uint8"):
        ModelFile.load(path)


def test_predictor_reads_everything_from_the_file(model_path):
    predictor = Predictor(model_path, device="cpu", batch_size=3)
    assert predictor.provider == "CPUExecutionProvider"
    assert predictor.name == "fake.onnx"
    assert predictor.skeleton.names == list(NAMES)
    assert predictor.preprocessing.shape == (48, 64, 1)
    assert "CPUExecutionProvider" in repr(predictor)
    fitted = np.zeros((7, 48, 64, 1), np.uint8)
    fitted[:, 5, 9] = 255
    out = predictor.run(fitted)  # 7 frames in batches of 3
    assert out.shape == (7, 4, 3)
    np.testing.assert_allclose(out[:, :, :2], np.tile([9.0, 5.0], (7, 4, 1)))
    np.testing.assert_allclose(out[0, :, 2], [0.25, 0.5, 0.75, 1.0])
    with pytest.raises(Exception, match="predict"):
        predictor.run(np.zeros((1, 10, 10, 1), np.uint8))
