"""Inference: 16 kHz windows -> valence and arousal on DEAM's 1..9 scale.

Two backends share the one front end (``emotrack.models.frontend.FrontEnd``): PyTorch (a run
folder or ``.pt`` checkpoint; on a GPU with bf16 autocast and, for batch 1, a CUDA graph; on a
CPU as a traced TorchScript graph, in bf16 where the CPU has it) and ONNX Runtime (an exported
``model.onnx``; CUDA provider where present). A model whose audio parameters or output scale
differ from what this front end computes is refused.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from emotrack.models.emotion import CheckpointError, load_model, resolve_checkpoint
from emotrack.models.errors import UserError
from emotrack.models.frontend import FrontEnd

BACKENDS = ("auto", "torch", "onnx")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
ONNX_NAME = "model.onnx"  # what `emotrack export RUN --onnx` writes into a run folder
SCALE_MIN, SCALE_MAX = 1.0, 9.0
GET_MODEL = "train one with `emotrack-train`, or make a small one with `emotrack demo`"


def native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_precision(precision: str, backbone: str, device: torch.device) -> str:
    """ "fp32" or "bf16" for ``--precision``. auto: bf16 on a GPU, and on a CPU with bf16 in
    hardware for every backbone but the small CNN (fast in fp32, and kept exact there)."""
    check_precision(precision)
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16"
    return "bf16" if backbone != "cnn" and native_bf16() else "fp32"


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")


def cpu_threads() -> int:
    """Threads for CPU inference: every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Engine:
    """Loaded model + front end. ``predict((B, samples)) -> (B, 2)`` on 1..9."""

    backend = ""  # human-readable, e.g. "torch", "onnxruntime CPU"
    device = ""  # human-readable, e.g. "cpu (2 threads)"
    on_gpu = False
    precision = "fp32"  # what the model computes in: "fp32" or "bf16"

    def __init__(self, path: Path, backbone: str, front: FrontEnd) -> None:
        self.path = path
        self.backbone = backbone
        self.front = front
        self.audio = front.config

    @property
    def window_samples(self) -> int:
        return self.audio.window_samples

    @property
    def batch_size(self) -> int:
        """Windows per call when a file is tracked as fast as possible."""
        if self.on_gpu:
            return 64
        return 16 if self.backbone == "cnn" else 8

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
            engine = TorchEngine(path, device, threads, cuda_graph, precision)
        for batch in {1, engine.batch_size if engine.on_gpu else 1}:  # warm up (GPU: both shapes)
            engine.predict(np.zeros((batch, engine.window_samples), np.float32))
        return engine

    def predict(self, windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.path} ({self.backbone}, {self.backend} on {self.device})"


def resolve_model(path: Path, backend: str) -> tuple[Path, str]:
    """The file to load and the backend ("torch" or "onnx") for ``--model`` and ``--backend``."""
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
    try:
        return resolve_checkpoint(path), "torch"
    except CheckpointError:
        if backend == "auto" and onnx_file.is_file():
            return onnx_file, "onnx"
        raise


def _finish(values: np.ndarray) -> np.ndarray:
    return np.clip(values.astype(np.float32, copy=False), SCALE_MIN, SCALE_MAX)


class TorchEngine(Engine):
    """PyTorch model; bf16 autocast on a GPU, batch-1 calls replayed from a CUDA graph; on a
    CPU one traced TorchScript graph, in bf16 (weights cast once, channels-last images) where
    the CPU has bf16 in hardware."""

    def __init__(
        self, path: Path, device: str, threads: int, cuda_graph: bool, precision: str
    ) -> None:
        want = torch_device(device)
        model = load_model(path, map_location=want)
        super().__init__(path, model.config.backbone, FrontEnd(model.audio).to(want).eval())
        self.model = model
        self.torch_device = want
        self.precision = resolve_precision(precision, self.backbone, want)
        self._graph: _CudaGraph | None = None
        self._traced: torch.jit.ScriptModule | None = None
        self._channels_last = False
        if want.type == "cpu" and self.precision == "bf16":
            model.cast_network(torch.bfloat16)  # autocast would cast every weight on every call
            self._channels_last = len(model.audio.input_shape) == 3  # images: oneDNN's layout
            if self._channels_last:
                model.to(memory_format=torch.channels_last)
        self.backend = "torch bf16" if self.precision == "bf16" else "torch"
        if want.type == "cuda":
            self.on_gpu = True
            self.device = f"{want} ({torch.cuda.get_device_name(want)})"
            if cuda_graph:
                self._graph = _CudaGraph.capture(self._forward, self.window_samples, want)
                if self._graph is not None:
                    self.backend += " + CUDA graph"
        else:
            torch.set_num_threads(threads)
            self.device = f"cpu ({threads} threads)"
            example = torch.randn(1, *model.audio.input_shape)
            self._traced = _traced(model, self._layout(example).to(self._dtype))
            if self._traced is not None:
                self.backend += " + TorchScript"

    @property
    def _dtype(self) -> torch.dtype:
        """What the model's weights are on the CPU (on a GPU autocast decides)."""
        cpu_bf16 = self.precision == "bf16" and self.torch_device.type == "cpu"
        return torch.bfloat16 if cpu_bf16 else torch.float32

    def _layout(self, features: torch.Tensor) -> torch.Tensor:
        if self._channels_last:
            return features.contiguous(memory_format=torch.channels_last)
        return features

    def _forward(self, windows: torch.Tensor) -> torch.Tensor:
        features = self._layout(self.front(windows))  # float32: the front end is never autocast
        if self._traced is not None:
            z = self._traced(features.to(self._dtype))
        else:
            bf16 = self.precision == "bf16"
            with torch.autocast(self.torch_device.type, dtype=torch.bfloat16, enabled=bf16):
                z = self.model(features)
        return self.model.to_values(z.float())

    def predict(self, windows: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        count = len(x)
        with torch.inference_mode():
            if self._graph is not None and count == 1:
                out = self._graph(x)
            else:
                if self.on_gpu and 1 < count < self.batch_size:  # one shape: no new kernels
                    x = torch.cat([x, x.new_zeros(self.batch_size - count, x.shape[1])])
                out = self._forward(x.to(self.torch_device, non_blocking=True))[:count]
        return _finish(out.cpu().numpy())


def torch_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: PyTorch sees no CUDA GPU here; use --device cpu")
    return torch.device(device)


def _traced(model: torch.nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule | None:
    """``model`` traced and frozen into one TorchScript graph, which runs without Python between
    its operations (faster on a CPU, and it leaves the GIL to the audio threads while it runs).
    None (eager it is) if tracing fails or the graph disagrees with the model on two batch
    sizes."""
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and TorchScript deprecation notices
            graph = torch.jit.freeze(torch.jit.trace(model.eval(), example, check_trace=False))
            for batch in (example, torch.cat([example, -example])):
                expected = model(batch).float()
                if not torch.allclose(graph(batch).float(), expected, atol=1e-3, rtol=1e-3):
                    return None
    except Exception:  # tracing is an optimisation; eager always works
        return None
    return graph


class _CudaGraph:
    """A batch-1 forward pass captured once and replayed (less launch overhead per hop)."""

    def __init__(self, graph, static_in: torch.Tensor, static_out: torch.Tensor) -> None:
        self.graph, self.static_in, self.static_out = graph, static_in, static_out

    @classmethod
    def capture(cls, forward, samples: int, device: torch.device) -> _CudaGraph | None:
        """Capture ``forward``; None (eager it is) if capture fails or disagrees with eager."""
        try:
            with torch.inference_mode():
                static_in = torch.randn(1, samples, device=device) * 0.1
                eager = forward(static_in).clone()
                stream = torch.cuda.Stream(device)
                stream.wait_stream(torch.cuda.current_stream(device))
                with torch.cuda.stream(stream):
                    for _ in range(3):
                        forward(static_in)
                torch.cuda.current_stream(device).wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    static_out = forward(static_in)
                graph.replay()
                torch.cuda.synchronize(device)
                if not torch.allclose(static_out, eager, atol=5e-2):
                    return None
        except Exception:  # capture is an optimisation; eager always works
            return None
        return cls(graph, static_in, static_out)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.static_in.copy_(x, non_blocking=True)
        self.graph.replay()
        return self.static_out.clone()


class OnnxEngine(Engine):
    """An exported model in ONNX Runtime; the front end runs in PyTorch on the CPU."""

    def __init__(self, path: Path, device: str, threads: int) -> None:
        import onnxruntime as ort

        from emotrack.models.backbones import audio_config_for
        from emotrack.models.onnx_meta import FIX, INPUT_NAME, OUTPUT_NAME, parse_metadata

        available = ort.get_available_providers()
        gpu = "CUDAExecutionProvider" in available
        if device.startswith("cuda") and not gpu:
            raise UserError(
                f"--device {device}: this ONNX Runtime has no CUDA provider; install "
                "onnxruntime-gpu, or use --device cpu"
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
            raise UserError(f"{path}: not a usable ONNX model ({_short(exc)}); {FIX}") from None
        meta = parse_metadata(session.get_modelmeta().custom_metadata_map, path)
        expected = audio_config_for(meta.backbone)
        if meta.audio != expected:
            diff = "; ".join(meta.audio.differences(expected))
            raise UserError(
                f"{path}: exported with audio parameters this version does not compute "
                f"({diff}); retrain and re-export the model with this version of emotrack"
            )
        torch.set_num_threads(threads)
        super().__init__(path, meta.backbone, FrontEnd(meta.audio).eval())
        self.session = session
        self._names = (INPUT_NAME, OUTPUT_NAME)
        used = session.get_providers()[0]
        self.on_gpu = used == "CUDAExecutionProvider"
        self.device = "cuda" if self.on_gpu else f"cpu ({threads} threads)"
        self.backend = f"onnxruntime {'CUDA' if self.on_gpu else 'CPU'}"

    def predict(self, windows: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        with torch.inference_mode():
            features = self.front(x).contiguous().numpy()
        name_in, name_out = self._names
        return _finish(self.session.run([name_out], {name_in: features})[0])


def _short(exc: Exception) -> str:
    text = [line for line in str(exc).strip().splitlines() if line.strip()]
    return text[-1][:300] if text else type(exc).__name__
