"""`emotrack export RUN --onnx` on a real CNN run, checked with a real ONNX Runtime session."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from emotrack.main import main
from emotrack.models.emotion import (
    PROBABILITY_SCALE,
    LabelScale,
    ModelConfig,
    ValueOutput,
    atomic_save,
    build_model,
    checkpoint_dict,
    load_model,
)
from emotrack.models.frontend import FrontEnd
from emotrack.models.onnx_meta import INPUT_NAME, OUTPUT_NAME, parse_metadata, read_onnx_metadata
from emotrack.offline import export

LABELS = LabelScale(mean=(0.1, -0.05), std=(0.4, 0.5))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder holding best.pt of a small CNN with non-trivial weights and label scale."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="cnn"), LABELS)
    with torch.no_grad():  # make BatchNorm statistics non-trivial, as after training
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    folder = tmp_path_factory.mktemp("run")
    atomic_save(checkpoint_dict(model, epoch=3), folder / "best.pt")
    return folder


@pytest.fixture(scope="module")
def exported(run_dir):
    assert main(["export", str(run_dir), "--onnx"]) == 0
    return run_dir / "model.onnx"


def _reference(model, windows: np.ndarray) -> np.ndarray:
    """What training computes: the PyTorch FrontEnd, then the model, mapped to 1..9."""
    with torch.no_grad():
        return ValueOutput(model)(FrontEnd(model.audio)(torch.from_numpy(windows))).numpy()


def test_onnx_runtime_matches_pytorch_on_the_1_to_9_scale(run_dir, exported):
    """The graph takes 16 kHz waveform windows (front end inside) and agrees with PyTorch's
    FrontEnd + model on generated music, tones, noise and silence, at several batch sizes."""
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    model = load_model(run_dir)
    assert session.get_inputs()[0].name == INPUT_NAME == "waveform"
    assert session.get_inputs()[0].shape == ["batch", model.audio.window_samples]
    windows = export.check_windows(model.audio.window_samples, seed=1)
    rng = np.random.default_rng(1)
    for batch in (1, 5, 7):  # the batch axis is dynamic
        x = windows[rng.integers(0, len(windows), batch)]
        x[0] *= rng.uniform(0.1, 1.0)
        got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
        assert got.shape == (batch, 2)
        assert np.abs(got - _reference(model, x)).max() < 1e-4
    values = session.run([OUTPUT_NAME], {INPUT_NAME: windows})[0]
    assert np.ptp(values[:, 0]) > 1e-3  # the input actually matters


def test_onnx_graph_matches_pytorch_on_a_decoded_song(run_dir, exported, tmp_path):
    """Real-ish audio: a generated song written as MP3, decoded and windowed as the tracker
    does it."""
    import soundfile as sf

    from emotrack.models.audio import frame_windows, load_audio, window_starts
    from emotrack.offline.synth_music import Drift, render

    song = render(Drift(-0.4, (0.5,), (0.1,), (0.0,)), Drift(0.5, (), (), ()), 12.0, 44_100, 2,
                  np.random.default_rng(3))  # fmt: skip
    sf.write(tmp_path / "song.mp3", song, 44_100)
    model = load_model(run_dir)
    audio = load_audio(tmp_path / "song.mp3")
    x = frame_windows(audio, window_starts(len(audio), model.audio, step_seconds=1.0))
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    assert np.abs(got - _reference(model, x)).max() < 1e-4


def test_metadata_round_trip(run_dir, exported):
    model = load_model(run_dir)
    audio, labels, backbone = read_onnx_metadata(exported)
    assert audio == model.audio and labels == LABELS and backbone == "cnn"
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    from_session = parse_metadata(session.get_modelmeta().custom_metadata_map, exported)
    assert from_session == (audio, labels, backbone)


def test_checkpoint_file_and_out_option(run_dir, tmp_path, capsys):
    out = tmp_path / "deep" / "cnn.onnx"
    argv = ["export", str(run_dir / "best.pt"), "--onnx", "--out", str(out), "--opset", "18"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert out.stat().st_size > 10_000
    assert "max abs diff" in err and "ok" in err and str(out) in err


def test_mamba_vision_exports_with_a_dynamic_batch(tmp_path):
    """A tiny MambaVision (same code paths: mamba mixers and windowed attention) behind the
    3x224x224 mel-image front end, exported and run at a batch size other than the one traced."""
    torch.manual_seed(0)
    tiny = {"depths": [1, 1, 2, 2], "dim": 16, "in_dim": 8, "num_heads": [1, 1, 2, 2]}
    config = ModelConfig(backbone="mamba_vision_T", head_hidden=16, backbone_kwargs=tiny)
    atomic_save(checkpoint_dict(build_model(config, LABELS)), tmp_path / "best.pt")
    assert main(["export", str(tmp_path), "--onnx"]) == 0
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    model = load_model(tmp_path)
    x = export.check_windows(model.audio.window_samples)[:4]
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    assert np.abs(got - _reference(model, x)).max() < 1e-3
    assert read_onnx_metadata(tmp_path / "model.onnx").backbone == "mamba_vision_T"


def test_a_quadrant_model_with_descriptors_exports_with_its_scale(tmp_path):
    """The fusion CNN (handcrafted descriptors inside the graph) on the probability scale:
    ONNX Runtime gives 1 + 8 P like PyTorch, and the file says which scale it is."""
    torch.manual_seed(1)
    config = ModelConfig(backbone="cnn_fusion", head_hidden=16)
    model = build_model(config, LabelScale(output_scale=PROBABILITY_SCALE))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                module.running_var.uniform_(0.5, 2.0)
    atomic_save(checkpoint_dict(model), tmp_path / "best.pt")
    assert main(["export", str(tmp_path), "--onnx"]) == 0
    labels = read_onnx_metadata(tmp_path / "model.onnx").labels
    assert labels.output_scale == PROBABILITY_SCALE
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    model = load_model(tmp_path)
    x = export.check_windows(model.audio.window_samples, seed=2)[:6]
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    assert np.abs(got - _reference(model, x)).max() < 1e-4
    assert ((got > 1.0) & (got < 9.0)).all()


def test_failed_check_writes_nothing_and_exits_1(run_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous export")
    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # a check no export can pass
    assert main(["export", str(run_dir), "--onnx", "--out", str(out)]) == 1
    assert "FAILED" in capsys.readouterr().err
    assert out.read_bytes() == b"previous export"
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}", "--onnx"], "no such run folder"),
        (["{empty}", "--onnx"], "no best.pt or last.pt"),
        (["{junk}", "--onnx"], "not a readable checkpoint"),
        (["{run}"], "add --onnx"),
        (["{run}", "--onnx", "--opset", "9"], "--opset 9"),
        (["{run}", "--onnx", "--out", "{empty}"], "is a folder"),
        (["{run}", "--onnx", "--out", "{junk}/model.onnx"], "cannot write"),
    ],
)
def test_bad_input_is_exit_2_with_a_message(run_dir, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    paths = {
        "missing": tmp_path / "nope",
        "empty": tmp_path / "empty",
        "junk": tmp_path / "junk.pt",
        "run": run_dir,
    }
    argv = ["export", *(a.format(**paths) for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("emotrack export: error:") and message in err
    assert "Traceback" not in err
    assert not list((tmp_path / "empty").iterdir())
