"""ONNX metadata: one definition for the exporter and the tracker; bad files are refused."""

from __future__ import annotations

import json

import onnx
import pytest
from onnx import TensorProto, helper

from emotrack.models.audio import CNN_MEL, MEL_IMAGE
from emotrack.models.emotion import PROBABILITY_SCALE, LabelScale
from emotrack.models.onnx_meta import (
    KEY_AUDIO,
    KEY_BACKBONE,
    KEY_FORMAT,
    KEY_LABELS,
    KEY_OUTPUTS,
    ONNX_FORMAT,
    OnnxModelError,
    parse_metadata,
    read_onnx_metadata,
)

GOOD = {
    KEY_FORMAT: ONNX_FORMAT,
    KEY_AUDIO: json.dumps(MEL_IMAGE.to_dict()),
    KEY_LABELS: json.dumps(LabelScale((0.1, 0.2), (0.3, 0.4)).to_dict()),
    KEY_BACKBONE: "mamba_vision_S",
}


def _identity_onnx(path, props):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph)
    helper.set_model_props(model, props)
    onnx.save(model, str(path))
    return path


def test_parse_good_metadata():
    audio, labels, backbone = parse_metadata(GOOD)
    assert audio == MEL_IMAGE and audio != CNN_MEL
    assert labels == LabelScale((0.1, 0.2), (0.3, 0.4)) and backbone == "mamba_vision_S"


def test_a_quadrant_models_scale_is_read_back():
    quadrant = LabelScale(output_scale=PROBABILITY_SCALE)
    labels = parse_metadata({**GOOD, KEY_LABELS: json.dumps(quadrant.to_dict())}).labels
    assert labels == quadrant and labels.output_scale == PROBABILITY_SCALE


def test_outputs_other_than_valence_and_arousal_are_refused():
    with pytest.raises(OnnxModelError, match=r"outputs \['arousal', 'valence'\]"):
        parse_metadata({**GOOD, KEY_OUTPUTS: json.dumps(["arousal", "valence"])})


def test_read_from_file(tmp_path):
    path = _identity_onnx(tmp_path / "m.onnx", GOOD)
    assert read_onnx_metadata(path).backbone == "mamba_vision_S"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({KEY_FORMAT: None}, "not an emotrack ONNX model"),
        ({KEY_FORMAT: "emotrack-onnx/99"}, "emotrack-onnx/99"),
        ({KEY_FORMAT: "emotrack-onnx/1"}, "older emotrack"),
        ({KEY_AUDIO: "{not json"}, "cannot use"),
        ({KEY_AUDIO: json.dumps({"n_mels": 64, "wobble": 1})}, "cannot use"),
        ({KEY_BACKBONE: None}, "cannot use"),
        ({KEY_LABELS: json.dumps({"mean": [0, 0], "std": [1, 1], "output_scale": "x"})}, "scale"),
    ],
)
def test_bad_metadata_names_the_file_and_the_fix(tmp_path, change, message):
    props = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    path = _identity_onnx(tmp_path / "bad.onnx", props)
    with pytest.raises(OnnxModelError, match=message) as caught:
        read_onnx_metadata(path)
    assert str(path) in str(caught.value) and "emotrack export" in str(caught.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(OnnxModelError, match="no such ONNX file"):
        read_onnx_metadata(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xffnot protobuf at all" * 10)
    with pytest.raises(OnnxModelError, match="not a readable ONNX file"):
        read_onnx_metadata(junk)
