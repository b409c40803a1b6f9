"""Inference: 16 kHz windows -> valence and arousal on DEAM's 1..9 scale.

Two backends run the one front end (``emotrack.models.frontend.FrontEnd``): ONNX Runtime (an
exported ``model.onnx``, whose graph holds the front end and the model, so it needs numpy and
ONNX Runtime only; CUDA provider where present) and PyTorch (a run folder or ``.pt``
checkpoint, :mod:`emotrack.tracker.torch_engine`, with the ``train`` extra). This module
imports no torch: the light install tracks with ONNX models. A model whose audio parameters
or output scale the tracker cannot feed or report is refused.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from emotrack.models.audio import SAMPLE_RATE, AudioConfig
from emotrack.models.errors import UserError, one_line
from emotrack.models.scale import SCALE_MAX, SCALE_MIN, LabelScale

BACKENDS = ("auto", "torch", "onnx")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
ONNX_NAME = "model.onnx"  # what `emotrack export RUN --onnx` writes into a run folder
# what a training run folder holds (a cross-validation's model is in its final/ run)
CHECKPOINT_NAMES = ("best.pt", "last.pt", "final/best.pt", "final/last.pt")
TRAIN_EXTRA = "pip install 'emotrack[train]'"


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")


def cpu_threads() -> int:
    """Threads for CPU inference: every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def have_torch() -> bool:
    """Whether PyTorch is installed (the ``train`` extra); checked without importing it."""
    try:
        return importlib.util.find_spec("torch") is not None
    except ValueError:  # a stand-in module without a spec
        return False


def need_torch(what: str) -> None:
    """UserError naming ``what`` needs PyTorch, and how to get it, when it is not installed."""
    if not have_torch():
        raise UserError(
            f"{what} needs PyTorch, which this install of emotrack lacks: install the train "
            f"extra ({TRAIN_EXTRA}), or track with an exported model.onnx "
            "(`emotrack export RUN --onnx` where PyTorch is installed)"
        )


SMALL_BACKBONES = ("cnn", "cnn_fusion")  # cheap per window: bigger CPU batches, fp32
# windows per call when a file is tracked as fast as possible
GPU_BATCH, CPU_BATCH, SMALL_CPU_BATCH, ONNX_CPU_BATCH = 64, 8, 16, 4


def cpu_batches() -> str:
    """The engines' own batch sizes on a CPU, in words (for --batch's help)."""
    return (
        f"on a CPU with PyTorch {SMALL_CPU_BATCH} for the CNN and {CPU_BATCH} otherwise, "
        f"with ONNX Runtime {ONNX_CPU_BATCH}"
    )


def default_batches() -> str:
    """The engines' own batch sizes, in words (for --batch's help)."""
    return f"{GPU_BATCH} on a GPU; {cpu_batches()}"


class Engine:
    """A loaded model. ``predict((B, samples)) -> (B, 2)`` on 1..9; ``labels`` says what the
    values mean."""

    labels = LabelScale()
    backend = ""  # human-readable, e.g. "torch", "onnxruntime CPU"
    device_name = ""  # where it runs, for people: e.g. "cpu (2 threads)"
    on_gpu = False
    precision = "fp32"  # what the model computes in: "fp32" or "bf16"

    def __init__(self, path: Path, backbone: str, audio: AudioConfig) -> None:
        self.path = path
        self.backbone = backbone
        self.audio = audio

    @property
    def window_samples(self) -> int:
        return self.audio.window_samples

    @property
    def batch_size(self) -> int:
        """Windows per call when a file is tracked as fast as possible."""
        if self.on_gpu:
            return GPU_BATCH
        return SMALL_CPU_BATCH if self.backbone in SMALL_BACKBONES else CPU_BATCH

    def prepare(self, batch: int) -> None:
        """Calls of up to ``batch`` windows are coming (a scan); an engine that can get ready
        for them does (the PyTorch engine on a GPU captures them as a CUDA graph). Call it
        before other threads use the engine."""

    @staticmethod
    def load(
        model_path: str | Path,
        device: str = "auto",
        backend: str = "auto",
        threads: int | None = None,
        cuda_graph: bool = True,
        precision: str = "auto",
    ) -> Engine:
        """Load a run folder, ``.pt`` checkpoint or ``.onnx`` file (UserError if unusable)."""
        check_precision(precision)
        if backend not in BACKENDS:
            raise UserError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
        if device not in DEVICES and not device.startswith("cuda:"):
            raise UserError(f"--device {device!r}: choose one of {', '.join(DEVICES)}")
        path, backend = resolve_model(Path(model_path), backend)
        threads = threads or cpu_threads()
        if backend == "onnx":
            if precision == "bf16":
                raise UserError(
                    f"{path}: ONNX models run in fp32; use --backend torch for --precision bf16"
                )
            engine: Engine = OnnxEngine(path, device, threads)
        else:
            need_torch(f"{path}: a PyTorch model")
            from emotrack.tracker.torch_engine import TorchEngine

            engine = TorchEngine(path, device, threads, cuda_graph, precision)
        for batch in {1, engine.batch_size if engine.on_gpu else 1}:  # warm up (GPU: both shapes)
            engine.predict(np.zeros((batch, engine.window_samples), np.float32))
        return engine

    def predict(self, windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        return (
            f"{self.path} ({self.backbone}, {self.backend} on {self.device_name}); values: "
            f"{self.labels.meaning}"
        )


def resolve_model(path: Path, backend: str) -> tuple[Path, str]:
    """The file to load and the backend ("torch" or "onnx") for ``--model`` and ``--backend``.
    A run folder means its checkpoint where PyTorch is installed, else its model.onnx."""
    if not path.exists():
        raise UserError(f"{path}: no such model; pass a training run folder, a .pt or a .onnx file")
    onnx_file = path / ONNX_NAME if path.is_dir() else path.with_suffix(".onnx")
    if path.suffix == ".onnx":
        if backend == "torch":
            raise UserError(f"{path}: an ONNX model runs with --backend onnx (or auto)")
        return path, "onnx"
    if backend == "onnx":
        if not onnx_file.is_file():
            raise UserError(
                f"{path}: no exported {onnx_file.name} beside it; run "
                f"`emotrack export {path} --onnx` first, or use --backend torch"
            )
        return onnx_file, "onnx"
    if backend == "auto" and onnx_file.is_file() and not have_torch():
        return onnx_file, "onnx"
    if backend == "torch":
        need_torch("--backend torch")
    if path.is_dir():
        if not any((path / name).is_file() for name in CHECKPOINT_NAMES):
            if backend == "auto" and onnx_file.is_file():
                return onnx_file, "onnx"
            raise UserError(
                f"{path}: run folder holds no {' or '.join(CHECKPOINT_NAMES)} and no "
                f"{ONNX_NAME}; train it first, or pass a .pt or .onnx file"
            )
        need_torch(f"{path}: a training run folder without {ONNX_NAME}")
        from emotrack.models.emotion import resolve_checkpoint

        return resolve_checkpoint(path), "torch"
    need_torch(f"{path}: a PyTorch checkpoint")
    return path, "torch"


def finish(values: np.ndarray) -> np.ndarray:
    """Model output as float32, clipped to the 1..9 scale."""
    return np.clip(values.astype(np.float32, copy=False), SCALE_MIN, SCALE_MAX)


class OnnxEngine(Engine):
    """An exported model (front end and model in one graph) in ONNX Runtime."""

    def __init__(self, path: Path, device: str, threads: int) -> None:
        import onnxruntime as ort

        from emotrack.models.onnx_meta import FIX, INPUT_NAME, OUTPUT_NAME, parse_metadata

        available = ort.get_available_providers()
        gpu = "CUDAExecutionProvider" in available
        if device.startswith("cuda") and not gpu:
            raise UserError(
                f"--device {device}: this ONNX Runtime has no CUDA provider; replace it with "
                "the CUDA build (pip uninstall -y onnxruntime && pip install onnxruntime-gpu), "
                "use a PyTorch model on the GPU, or use --device cpu"
            )
        providers = ["CPUExecutionProvider"]
        if gpu and device != "cpu":
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # no busy-waiting between calls: the audio, UI and decoding threads need those cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:
            raise UserError(f"{path}: not a usable ONNX model ({one_line(exc)}); {FIX}") from None
        meta = parse_metadata(session.get_modelmeta().custom_metadata_map, path)
        check_graph_input(path, meta.audio, session.get_inputs()[0].shape, FIX)
        super().__init__(path, meta.backbone, meta.audio)
        self.labels = meta.labels
        self.session = session
        self._names = (INPUT_NAME, OUTPUT_NAME)
        used = session.get_providers()[0]
        self.on_gpu = used == "CUDAExecutionProvider"
        self.device_name = "cuda" if self.on_gpu else f"cpu ({threads} threads)"
        self.backend = f"onnxruntime {'CUDA' if self.on_gpu else 'CPU'}"

    @property
    def batch_size(self) -> int:
        """On a CPU small batches run faster per window here (less memory traffic)."""
        return GPU_BATCH if self.on_gpu else ONNX_CPU_BATCH

    def predict(self, windows: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(windows, dtype=np.float32)
        if not np.isfinite(x).all():  # the graph expects finite samples
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        name_in, name_out = self._names
        return finish(self.session.run([name_out], {name_in: x})[0])


def check_graph_input(path: Path, audio: AudioConfig, shape: list, fix: str) -> None:
    """The graph must take what the tracker gives: 16 kHz windows of the metadata's length."""
    if audio.sample_rate != SAMPLE_RATE:
        raise UserError(
            f"{path}: made for {audio.sample_rate} Hz audio; the tracker gives {SAMPLE_RATE} Hz; "
            f"{fix}"
        )
    if len(shape) != 2 or shape[1] != audio.window_samples:
        raise UserError(
            f"{path}: the graph takes input of shape {shape}, not (batch, "
            f"{audio.window_samples}) waveform windows; {fix}"
        )
