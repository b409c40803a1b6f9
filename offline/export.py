"""`emotrack export RUN --onnx`: a trained run as an ONNX model the tracker can run.

The exported graph is the whole path from audio to values: the front end (``FrontEnd``, its
spectrogram in ONNX-friendly operations, ``emotrack.models.stft``) and the model with its
output mapped to 1..9 (``ValueOutput``). Input ``(batch, window_samples)``: 16 kHz mono
waveform windows, dynamic batch axis; output ``(batch, 2)`` (valence, arousal). Its
metadata_props carry the audio parameters, label scale, backbone and format version
(``emotrack.models.onnx_meta``). So the tracker needs only numpy and ONNX Runtime to run it.
Before the file is written, ONNX Runtime (CPU) is checked against PyTorch's ``FrontEnd`` and
model on generated music, tones, noise and silence; a mismatch writes nothing and exits 1.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emotrack.models.atomic import write_atomic
from emotrack.models.audio import SAMPLE_RATE
from emotrack.models.emotion import EmotionModel, ValueOutput, load_model
from emotrack.models.errors import UserError, one_line
from emotrack.models.frontend import FrontEnd
from emotrack.models.onnx_meta import INPUT_NAME, OUTPUT_NAME, metadata_for
from emotrack.shell import EXIT_FAILED, EXIT_OK

DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 14, 20  # the TorchScript exporter's range that suits these models
TOLERANCE = 1e-3  # max abs difference ONNX vs PyTorch, on the 1..9 scale
EXPORT_BATCH = 2  # traced with this batch size, checked with the CHECK_WINDOWS (another)


class ExportFailed(Exception):
    """The exporter or ONNX Runtime could not handle the model (exit 1, not bad input)."""


@dataclass
class ExportResult:
    path: Path  # where the model was (or would have been) written
    max_abs_diff: float  # ONNX Runtime vs PyTorch on check_windows(), 1..9 scale
    tolerance: float
    size_bytes: int

    @property
    def ok(self) -> bool:
        return bool(self.max_abs_diff <= self.tolerance)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(  # dest is not "run": the dispatcher stores this module's run there
        "run_path",
        metavar="RUN",
        type=Path,
        help="run folder (its best.pt, else last.pt) or a .pt checkpoint file",
    )
    parser.add_argument("--onnx", action="store_true", help="export to ONNX (the only format)")
    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        help="ONNX file to write (default: RUN/model.onnx, or CHECKPOINT.onnx beside a .pt file)",
    )
    parser.add_argument(
        "--opset",
        metavar="N",
        type=int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset, {MIN_OPSET}..{MAX_OPSET} (default {DEFAULT_OPSET})",
    )


def run(args: argparse.Namespace) -> int:
    if not args.onnx:
        raise UserError("nothing to export: add --onnx (the only export format)")
    try:
        result = export_onnx(args.run_path, args.out, args.opset)
    except ExportFailed as exc:
        print(f"emotrack export: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    verdict = "ok" if result.ok else "FAILED"
    print(
        f"ONNX Runtime vs PyTorch on {len(CHECK_KINDS)} windows of music, tones, noise and "
        f"silence: max abs diff "
        f"{result.max_abs_diff:.2e} on the 1..9 scale (tolerance {result.tolerance:.0e}): "
        f"{verdict}",
        file=sys.stderr,
    )
    if not result.ok:
        print(
            f"{result.path}: not written, the exported graph does not reproduce the model; "
            "try another --opset, or report the backbone and versions",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(f"wrote {result.path} ({result.size_bytes / 1e6:.1f} MB)", file=sys.stderr)
    return EXIT_OK


def default_output(run: Path) -> Path:
    return run / "model.onnx" if run.is_dir() else run.with_suffix(".onnx")


def export_onnx(
    run: str | Path,
    out: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    tolerance: float | None = None,
) -> ExportResult:
    """Export, check against PyTorch (``tolerance`` default :data:`TOLERANCE`), and write
    ``out`` atomically only when the check passes."""
    tolerance = TOLERANCE if tolerance is None else tolerance
    run = Path(run)
    if not run.exists():
        raise UserError(f"{run}: no such run folder or checkpoint; pass a training run folder")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UserError(f"--opset {opset} is not supported; choose {MIN_OPSET}..{MAX_OPSET}")
    out = Path(out) if out is not None else default_output(run)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'model.onnx'}")
    _check_writable(out)
    model = load_model(run, map_location="cpu")
    print(
        f"exporting {run} (backbone {model.config.backbone}, front end and model: input "
        f"(batch, {model.audio.window_samples}) samples at {model.audio.sample_rate} Hz, "
        f"opset {opset})",
        file=sys.stderr,
    )
    data = to_onnx_bytes(model, opset)
    diff = check_against_torch(model, data)
    result = ExportResult(out, diff, tolerance, len(data))
    if result.ok:
        try:
            write_atomic(out, data)
        except OSError as exc:
            raise UserError(f"{out}: cannot write ({exc.strerror}); choose another --out") from None
    return result


def _check_writable(out: Path) -> None:
    """Fail before the slow export when ``out`` cannot be written."""
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise UserError(f"{out}: cannot write into {folder}; choose another --out")


class WaveformModel(torch.nn.Module):
    """What the ONNX graph computes: waveform windows -> front end -> model -> 1..9."""

    def __init__(self, model: EmotionModel, exportable: bool = True) -> None:
        super().__init__()
        self.front = FrontEnd(model.audio, exportable=exportable)
        self.model = ValueOutput(model)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.model(self.front(windows))


def to_onnx_bytes(model: EmotionModel, opset: int = DEFAULT_OPSET) -> bytes:
    """The serialized ONNX model (waveform in, 1..9 out, dynamic batch, emotrack metadata)."""
    import onnx

    wrapper = WaveformModel(model).eval()
    example = 0.1 * torch.randn(EXPORT_BATCH, model.audio.window_samples)
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation/tracer notes
            torch.onnx.export(
                wrapper,
                (example,),
                buffer,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
            )
        proto = onnx.load_from_string(buffer.getvalue())
        for key, value in metadata_for(model).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
    except Exception as exc:
        raise ExportFailed(
            f"backbone {model.config.backbone} did not export at opset {opset}: "
            f"{type(exc).__name__}: {one_line(exc)}"
        ) from exc
    return proto.SerializeToString()


CHECK_KINDS = ("music", "music, quiet", "tones and noise", "noise", "silence")


def check_windows(samples: int, seed: int = 0) -> np.ndarray:
    """(len(CHECK_KINDS), samples) windows at 16 kHz: generated music (at full level and 40 dB
    down), tones with noise, white noise and silence: what the tracker meets."""
    from emotrack.offline.synth_music import Drift, render

    rng = np.random.default_rng(seed)
    seconds = samples / SAMPLE_RATE
    valence, arousal = Drift(0.3, (), (), ()), Drift(-0.2, (0.6,), (0.1,), (0.0,))
    music = render(valence, arousal, seconds, SAMPLE_RATE, 1, rng)
    music = np.resize(music.astype(np.float32).reshape(-1), samples)
    t = np.arange(samples) / SAMPLE_RATE
    tones = sum(0.2 * np.sin(2 * np.pi * hz * t) for hz in (110.0, 440.0, 2_500.0))
    return np.stack(
        [
            music,
            0.01 * music,
            tones + rng.normal(0.0, 0.02, samples),
            rng.normal(0.0, 0.3, samples),
            np.zeros(samples),
        ]
    ).astype(np.float32)


def check_against_torch(model: EmotionModel, data: bytes, seed: int = 0) -> float:
    """Max abs difference between ONNX Runtime (CPU) and PyTorch (``FrontEnd`` as training
    computes it, then the model) on 1..9, over :func:`check_windows`."""
    import onnxruntime as ort

    x = check_windows(model.audio.window_samples, seed)
    with torch.no_grad():
        expected = WaveformModel(model, exportable=False).eval()(torch.from_numpy(x)).numpy()
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 4  # failures are reported once, by the exception below
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    except Exception as exc:
        raise ExportFailed(
            f"ONNX Runtime cannot run the exported model at batch {len(x)} (traced at "
            f"batch {EXPORT_BATCH}; a size fixed while tracing shows up here): "
            f"{type(exc).__name__}: {one_line(exc)}"
        ) from exc
    if got.shape != expected.shape or not np.isfinite(got).all():
        return float("inf")
    return float(np.max(np.abs(got - expected)))
