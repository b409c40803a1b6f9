"""The PyTorch engine (the ``train`` extra): a run folder or ``.pt`` checkpoint, with
:class:`emotrack.models.frontend.FrontEnd` in front of the model.

In bf16 on a GPU (weights cast once, images channels-last: the layout the GPU's convolutions
run fastest in), batch 1 and a scan's batch replayed from CUDA graphs; on a CPU as a traced
TorchScript graph, in bf16 where the CPU has it in hardware. Besides windows (``predict``) it
takes the samples a batch of windows spans and where each window starts (``predict_spans``):
they go to the device in one copy and the windows are cut there, a tenth of the bytes at a
0.5 s step.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from emotrack.models.emotion import load_model
from emotrack.models.errors import UserError
from emotrack.models.frontend import FrontEnd
from emotrack.tracker.engine import SMALL_BACKBONES, Engine, check_precision, finish


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
    return "bf16" if backbone not in SMALL_BACKBONES and native_bf16() else "fp32"


class TorchEngine(Engine):
    """PyTorch model; in bf16 (weights cast once, channels-last images) on a GPU and on a CPU
    with bf16 in hardware; on a GPU batch-1 calls and a scan's batches (``prepare``) are
    replayed from CUDA graphs, on a CPU the model runs as one traced TorchScript graph."""

    def __init__(
        self, path: Path, device: str, threads: int, cuda_graph: bool, precision: str
    ) -> None:
        want = torch_device(device)
        model = load_model(path, map_location=want)
        super().__init__(path, model.config.backbone, model.audio)
        self.labels = model.labels
        self.front = FrontEnd(model.audio).to(want).eval()
        self.model = model
        self.torch_device = want
        self.precision = resolve_precision(precision, self.backbone, want)
        self._graphs: dict[int, _CudaGraph] = {}  # batch size -> its captured forward pass
        self._traced: torch.jit.ScriptModule | None = None
        self._channels_last = False
        if self.precision == "bf16":
            model.cast_network(torch.bfloat16)  # autocast would cast every weight on every call
            self._channels_last = len(model.audio.input_shape) == 3  # images: oneDNN's layout
            if self._channels_last:
                model.to(memory_format=torch.channels_last)
        self.backend = "torch bf16" if self.precision == "bf16" else "torch"
        if want.type == "cuda":
            self.on_gpu = True
            self.device_name = f"{want} ({torch.cuda.get_device_name(want)})"
            if cuda_graph:
                self._capture(1)
        else:
            torch.set_num_threads(threads)
            self.device_name = f"cpu ({threads} threads)"
            example = torch.randn(1, *model.audio.input_shape)
            self._traced = _traced(model, self._layout(example).to(self._dtype))
            if self._traced is not None:
                self.backend += " + TorchScript"

    @property
    def _dtype(self) -> torch.dtype:
        """What the model's weights are in."""
        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def _layout(self, features: torch.Tensor) -> torch.Tensor:
        if self._channels_last:
            return features.contiguous(memory_format=torch.channels_last)
        return features

    def _forward(self, windows: torch.Tensor) -> torch.Tensor:
        features = self._layout(self.front(windows))  # the front end always runs in float32
        network = self.model if self._traced is None else self._traced
        return self.model.to_values(network(features.to(self._dtype)).float())

    def _capture(self, batch: int) -> None:
        """Capture the forward pass of ``batch`` windows as a CUDA graph (eager if it fails)."""
        graph = _CudaGraph.capture(self._forward, batch, self.window_samples, self.torch_device)
        if graph is None:
            return
        if not self._graphs:
            self.backend += " + CUDA graph"
        self._graphs[batch] = graph

    def prepare(self, batch: int) -> None:
        """Calls of up to ``batch`` windows are coming (a scan): on a GPU their forward pass is
        captured once as a CUDA graph and replayed, so that the model's hundreds of kernels
        start without Python between them (eager, the launching thread holds the GIL that
        the scan's other threads need)."""
        if self.on_gpu and batch > 1 and batch not in self._graphs:
            self._capture(batch)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self._values(torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)))

    def host_buffer(self, count: int, dtype: type = np.float32) -> np.ndarray:
        """A host array for :meth:`predict_spans`: pinned memory on a GPU, so that its copy
        there is one asynchronous transfer (from pageable memory a copy is staged, and waits
        for all the work queued on the GPU before it)."""
        like = torch.from_numpy(np.empty(0, dtype))
        return torch.empty(count, dtype=like.dtype, pin_memory=self.on_gpu).numpy()

    def predict_spans(self, samples: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """The values of the windows ``samples[start : start + window_samples]`` for each of
        ``starts``, as :meth:`predict` gives them: the samples (float32) and starts (int64),
        in arrays from :meth:`host_buffer`, go to the device in one copy each and the windows
        are cut there. The arrays may be refilled once this returns."""
        with torch.inference_mode():
            flat = torch.from_numpy(samples).to(self.torch_device, non_blocking=True)
            index = torch.from_numpy(starts).to(self.torch_device, non_blocking=True)
            return self._values(cut_windows(flat, index, self.window_samples))

    def _values(self, x: torch.Tensor) -> np.ndarray:
        """Windows (B, samples) on the host or the device -> values (B, 2) on the host."""
        count = len(x)
        graph = self._graph_for(count)
        if graph is not None:
            out = graph(x.to(self.torch_device, non_blocking=True))
        else:
            if self.on_gpu and 1 < count < self.batch_size:  # one shape: no new kernels
                x = torch.cat([x, x.new_zeros(self.batch_size - count, x.shape[1])])
            out = self._forward(x.to(self.torch_device, non_blocking=True))[:count]
        return finish(out.cpu().numpy())

    def _graph_for(self, count: int) -> _CudaGraph | None:
        """The captured graph for a call of ``count`` windows: batch 1's for one window, else
        the smallest larger batch's if ``count`` fills more than half of it (the rows past
        ``count`` are computed and dropped; a smaller call runs eagerly at its own size)."""
        if count == 1:
            return self._graphs.get(1)
        batch = min((b for b in self._graphs if b >= count and b > 1), default=None)
        if batch is None or 2 * count <= batch:
            return None
        return self._graphs[batch]


def cut_windows(samples: torch.Tensor, starts: torch.Tensor, width: int) -> torch.Tensor:
    """(len(starts), width) windows ``samples[start : start + width]`` of a 1-D tensor, cut
    where it is in one gather (from a view of every window; nothing else is copied)."""
    return samples.unfold(0, width, 1).index_select(0, starts)


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
    """A forward pass of a fixed batch captured once and replayed (no launch overhead). Calls
    of fewer windows fill the front of its input; threads take turns (one static input)."""

    def __init__(self, graph, static_in: torch.Tensor, static_out: torch.Tensor) -> None:
        self.graph, self.static_in, self.static_out = graph, static_in, static_out
        self._lock = threading.Lock()

    @classmethod
    def capture(cls, forward, batch: int, samples: int, device: torch.device) -> _CudaGraph | None:
        """Capture ``forward`` on ``batch`` windows; None (eager it is) if capture fails or
        disagrees with eager."""
        try:
            with torch.inference_mode():
                static_in = torch.randn(batch, samples, device=device) * 0.1
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
                torch.cuda.empty_cache()  # the warm-up's blocks back (the graph has its own pool)
                if not torch.allclose(static_out, eager, atol=5e-2):
                    return None
        except Exception:  # capture is an optimisation; eager always works
            return None
        return cls(graph, static_in, static_out)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Values of the windows ``x`` (at most the captured batch, on the device)."""
        count = len(x)
        with self._lock:  # queued in order: the copy in, the replay, the copy out
            self.static_in[:count].copy_(x, non_blocking=True)
            self.graph.replay()
            return self.static_out[:count].clone()
