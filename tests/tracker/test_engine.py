"""Engine: PyTorch and ONNX Runtime agree, outputs are on 1..9, and models computed with
other audio parameters are refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
import torch

from emotrack.models.audio import SAMPLE_RATE, frame_windows, load_audio, window_starts
from emotrack.models.emotion import read_checkpoint
from emotrack.models.errors import UserError
from emotrack.models.onnx_meta import KEY_AUDIO, KEY_FORMAT
from emotrack.tracker.engine import Engine
from emotrack.tracker.torch_engine import _traced, native_bf16, resolve_precision


def windows(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE
    tones = [
        np.sin(2 * np.pi * rng.uniform(100, 2000) * t) * rng.uniform(0.05, 0.8)
        for _ in range(count)
    ]
    noise = rng.normal(0, 0.05, (count, len(t)))
    return (np.array(tones) + noise).astype(np.float32)


def test_torch_and_onnx_agree_on_the_cnn(torch_engine, onnx_engine):
    x = windows(5)
    expected = torch_engine.predict(x)
    got = onnx_engine.predict(x)
    assert got.shape == expected.shape == (5, 2)
    np.testing.assert_allclose(got, expected, atol=1e-3)
    assert np.ptp(expected, axis=0).min() > 1e-4  # the windows give different values
    assert torch_engine.backend == "torch + TorchScript"  # the traced graph is what agrees
    assert onnx_engine.backend == "onnxruntime CPU"
    assert torch_engine.device_name.startswith("cpu") and onnx_engine.device_name.startswith("cpu")


def test_batch_gives_the_same_values_as_one_window_at_a_time(onnx_engine):
    x = windows(4, seed=1)
    one_by_one = np.concatenate([onnx_engine.predict(x[i : i + 1]) for i in range(4)])
    np.testing.assert_allclose(onnx_engine.predict(x), one_by_one, atol=1e-4)


def test_values_match_the_offline_front_end_on_a_real_file(
    torch_engine, onnx_engine, mp3_song, cnn_run
):
    """Both engines = offline windowing + the training front end + the checkpoint's model,
    nothing else (the ONNX graph holds its own front end: it must agree to 1e-4)."""
    from emotrack.models.emotion import load_model
    from emotrack.models.frontend import FrontEnd

    audio = load_audio(mp3_song)
    x = frame_windows(audio, window_starts(len(audio), torch_engine.audio, step_seconds=1.0))
    model = load_model(cnn_run)
    with torch.no_grad():
        reference = model.to_values(model(FrontEnd(model.audio)(torch.from_numpy(x)))).numpy()
    np.testing.assert_allclose(torch_engine.predict(x), reference, atol=1e-4)
    np.testing.assert_allclose(onnx_engine.predict(x), reference, atol=1e-4)
    assert np.ptp(reference, axis=0).min() > 1e-3  # the windows give different values


@pytest.mark.parametrize("kind", ["silence", "nan", "loud"])
def test_degenerate_windows_give_finite_values_on_the_scale(torch_engine, onnx_engine, kind):
    x = {
        "silence": np.zeros((2, 5 * SAMPLE_RATE), np.float32),
        "nan": np.full((2, 5 * SAMPLE_RATE), np.nan, np.float32),
        "loud": np.sign(windows(2)) * 1.0,
    }[kind]
    for engine in (torch_engine, onnx_engine):
        values = engine.predict(x)
        assert np.isfinite(values).all() and values.min() >= 1 and values.max() <= 9


def test_torch_checkpoint_with_other_audio_parameters_is_refused(cnn_run, tmp_path):
    data = read_checkpoint(cnn_run / "best.pt")
    data["audio"]["n_mels"] = 32
    torch.save(data, tmp_path / "other.pt")
    with pytest.raises(UserError, match=r"audio parameters .*n_mels: 32 != 64.*retrain"):
        Engine.load(tmp_path / "other.pt", device="cpu")


def _edited_onnx(source, target, **audio_changes):
    model = onnx.load(str(source))
    for prop in model.metadata_props:
        if prop.key == KEY_AUDIO:
            prop.value = json.dumps({**json.loads(prop.value), **audio_changes})
    onnx.save(model, str(target))
    return target


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"sample_rate": 22_050}, "made for 22050 Hz audio"),
        ({"window_seconds": 4.0}, r"the graph takes .*80000.*, not \(batch, 64000\)"),
    ],
)
def test_onnx_model_the_tracker_cannot_feed_is_refused(cnn_run, tmp_path, change, says):
    path = _edited_onnx(cnn_run / "model.onnx", tmp_path / "model.onnx", **change)
    with pytest.raises(UserError, match=rf"model.onnx: {says}.*emotrack export"):
        Engine.load(path, device="cpu")


def test_an_onnx_file_of_the_old_format_asks_to_re_export(cnn_run, tmp_path):
    model = onnx.load(str(cnn_run / "model.onnx"))
    for prop in model.metadata_props:
        if prop.key == KEY_FORMAT:
            prop.value = "emotrack-onnx/1"
    onnx.save(model, str(tmp_path / "old.onnx"))
    with pytest.raises(UserError, match=r"old.onnx: exported by an older emotrack.*re-export"):
        Engine.load(tmp_path / "old.onnx", device="cpu")


def test_unusable_model_paths_say_what_to_do(cnn_run, tmp_path):
    with pytest.raises(UserError, match="no such model"):
        Engine.load(tmp_path / "nowhere")
    not_onnx = tmp_path / "broken.onnx"
    not_onnx.write_text("not a model")
    with pytest.raises(UserError, match="broken.onnx: not a usable ONNX model"):
        Engine.load(not_onnx)
    run = tmp_path / "run"
    shutil.copytree(cnn_run, run)
    (run / "model.onnx").unlink()
    with pytest.raises(UserError, match=r"emotrack export .* --onnx"):
        Engine.load(run, backend="onnx")
    with pytest.raises(UserError, match="--backend onnx"):
        Engine.load(cnn_run / "model.onnx", backend="torch")
    with pytest.raises(UserError, match="--device 'tpu'"):
        Engine.load(cnn_run, device="tpu")


def test_bf16_on_the_cpu_stays_close_to_fp32(cnn_run, torch_engine):
    bf16 = Engine.load(cnn_run, device="cpu", backend="torch", precision="bf16")
    assert bf16.backend == "torch bf16 + TorchScript"
    x = windows(4)
    got, expected = bf16.predict(x), torch_engine.predict(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=0.05)


def test_auto_precision_is_bf16_where_it_pays_and_exact_for_the_cnn():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", "cnn", cpu) == "fp32"
    assert resolve_precision("auto", "mamba_vision_T", cpu) == ("bf16" if native_bf16() else "fp32")
    assert resolve_precision("auto", "mamba_vision_T", gpu) == "bf16"
    assert resolve_precision("fp32", "mamba_vision_T", gpu) == "fp32"
    with pytest.raises(UserError, match="--precision 'fp16'"):
        resolve_precision("fp16", "cnn", cpu)


def test_onnx_models_refuse_bf16(cnn_run):
    with pytest.raises(UserError, match="ONNX models run in fp32"):
        Engine.load(cnn_run / "model.onnx", device="cpu", precision="bf16")


def test_a_run_folder_picks_its_checkpoint_or_its_onnx_export(cnn_run, tmp_path):
    assert Engine.load(cnn_run, device="cpu").backend == "torch + TorchScript"
    assert Engine.load(cnn_run, device="cpu", backend="onnx").backend == "onnxruntime CPU"
    exported_only = tmp_path / "exported"
    exported_only.mkdir()
    shutil.copy(cnn_run / "model.onnx", exported_only / "model.onnx")
    assert Engine.load(exported_only, device="cpu").backend == "onnxruntime CPU"


def test_a_quadrant_models_cross_validation_folder_tracks_on_the_same_plane(tmp_path):
    """A `--folds` run folder (its model in final/) of a quadrant model: both engines give
    1 + 8 P(positive), as the model computes it."""
    from emotrack.models.emotion import (
        PROBABILITY_SCALE,
        LabelScale,
        ModelConfig,
        atomic_save,
        build_model,
        checkpoint_dict,
        load_model,
    )
    from emotrack.models.frontend import FrontEnd
    from emotrack.offline.export import export_onnx

    torch.manual_seed(3)
    model = build_model(ModelConfig(backbone="cnn"), LabelScale(output_scale=PROBABILITY_SCALE))
    (tmp_path / "fold-01").mkdir()
    atomic_save(checkpoint_dict(model), tmp_path / "final" / "best.pt")
    x = windows(4, seed=3)
    with torch.no_grad():
        z = load_model(tmp_path)(FrontEnd(model.audio)(torch.from_numpy(x)))
    reference = (1.0 + 8.0 * torch.sigmoid(z)).numpy()
    engine = Engine.load(tmp_path, device="cpu", backend="torch")
    assert engine.path == tmp_path / "final" / "best.pt"
    np.testing.assert_allclose(engine.predict(x), reference, atol=1e-4)
    assert export_onnx(tmp_path).ok
    onnx_engine = Engine.load(tmp_path / "model.onnx", device="cpu")
    np.testing.assert_allclose(onnx_engine.predict(x), reference, atol=1e-4)
    for loaded in (engine, onnx_engine):  # each says what its values mean
        assert loaded.labels.output_scale == PROBABILITY_SCALE
        assert "1 + 8 x P(positive" in loaded.describe()
    assert np.ptp(reference, axis=0).min() > 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_engine_prepared_for_a_batch_replays_it_with_eager_values(cnn_run):
    """A scan's batch as one CUDA graph: full and partial batches, from two threads at once,
    give the eager engine's values."""
    from concurrent.futures import ThreadPoolExecutor

    eager = Engine.load(cnn_run, device="cuda", backend="torch", cuda_graph=False)
    graphed = Engine.load(cnn_run, device="cuda", backend="torch", cuda_graph=False)
    assert "CUDA graph" not in graphed.backend
    graphed.prepare(32)
    assert graphed.backend.endswith("+ CUDA graph")
    inputs = [windows(count, seed=count) for count in (32, 17, 32, 19, 7)]  # 7: eager
    expected = [eager.predict(x) for x in inputs]
    with ThreadPoolExecutor(2) as pool:
        for _ in range(5):
            for got, want in zip(pool.map(graphed.predict, inputs), expected, strict=True):
                np.testing.assert_allclose(got, want, rtol=0, atol=2e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bf16_on_a_gpu_stays_close_to_fp32(cnn_run, torch_engine):
    """bf16 weights and channels-last images, no autocast: near the CPU's fp32 values."""
    gpu = Engine.load(cnn_run, device="cuda", backend="torch", precision="bf16")
    x = windows(4)
    np.testing.assert_allclose(gpu.predict(x), torch_engine.predict(x), atol=0.05)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_asking_for_a_gpu_that_is_not_there_is_a_clear_error(cnn_run):
    with pytest.raises(UserError, match="no CUDA GPU here; use --device cpu"):
        Engine.load(cnn_run, device="cuda", backend="torch")
    with pytest.raises(UserError, match="no CUDA provider"):
        Engine.load(cnn_run, device="cuda", backend="onnx")


def test_a_model_the_tracer_cannot_capture_runs_eagerly():
    class BatchDependent(torch.nn.Module):
        def forward(self, x):  # the tracer keeps the branch of its example's batch size
            return x * 2 if x.shape[0] == 1 else x * 3

    assert _traced(BatchDependent(), torch.ones(1, 4)) is None
    assert _traced(torch.nn.Linear(4, 2), torch.ones(1, 4)) is not None
