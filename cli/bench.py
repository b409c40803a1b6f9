"""`emotrack bench`: how fast emotrack runs on this machine.

Measures the front end, inference per window for each backbone and runtime (PyTorch on the
CPU/GPU, ONNX Runtime), the hop latency from audio in to value out (a real-time file source),
the file-mode real-time factor (decoding included) and the tracker's memory. Models are built
untrained (speed does not depend on the weights) and exported to ONNX in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import psutil
import soundfile as sf

from emotrack.models.atomic import write_json

if TYPE_CHECKING:
    import torch

DEFAULT_BACKBONES = ("cnn", "mamba_vision_T")
MUSIC_RATE = 22_050


@dataclass
class Row:
    """One measurement: what ran where, and its numbers."""

    what: str
    backbone: str
    runtime: str
    device: str
    numbers: dict = field(default_factory=dict)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Measure emotrack's speed on this machine: front end, inference per window for each "
        "backbone and runtime, hop latency (audio in to value out), file-mode real-time factor "
        "and memory. Prints a table; --json writes the numbers."
    )
    parser.add_argument(
        "--backbones",
        nargs="+",
        default=list(DEFAULT_BACKBONES),
        metavar="NAME",
        help=f"backbones to measure (default {' '.join(DEFAULT_BACKBONES)})",
    )
    parser.add_argument(
        "--runtimes",
        nargs="+",
        default=["torch", "onnx"],
        choices=["torch", "onnx"],
        help="runtimes to measure (default both)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        metavar="auto|cpu|cuda",
        help="where models run (default auto: the GPU if there is one)",
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help="what PyTorch models compute in, as for `emotrack file` (default auto)",
    )
    parser.add_argument(
        "--file-seconds",
        type=float,
        default=120.0,
        metavar="S",
        help="length of the generated song tracked in file mode (default 120)",
    )
    parser.add_argument(
        "--live-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="real-time audio per hop-latency measurement (default 30: 51 windows)",
    )
    parser.add_argument(
        "--hour",
        action="store_true",
        help="also track one hour of audio in file mode and report memory over it",
    )
    parser.add_argument(
        "--gpu-batch",
        type=int,
        default=256,
        metavar="N",
        help="batch for GPU throughput of the backbone alone (default 256)",
    )
    parser.add_argument(
        "--train",
        action="store_true",
        help="also measure training throughput (forward+backward+AdamW, bf16 on GPU)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="with --train: measure training with torch.compile too (emotrack-train --compile)",
    )
    parser.add_argument(
        "--light",
        action="store_true",
        help="measure only the plain install (no extras): its size on disk, and a tracker "
        "process without torch: peak memory, first value, file-mode speed",
    )
    parser.add_argument(
        "--model",
        type=Path,
        metavar="FILE",
        help="--light: the ONNX model to track with (default: an untrained CNN, exported; "
        "that needs the train extra)",
    )
    add_scan_arguments(parser)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write all numbers to FILE")


def add_scan_arguments(parser: argparse.ArgumentParser) -> None:
    from emotrack.models.audio import TRACK_HOP_SECONDS

    scan = parser.add_argument_group("library scan (emotrack bench --scan)")
    scan.add_argument(
        "--scan",
        action="store_true",
        help="instead: time `emotrack scan` on a folder of songs in a fresh process (start "
        "included): songs/hour, x real time, CPU and GPU use; per backbone and runtime",
    )
    scan.add_argument(
        "--scan-dir", type=Path, metavar="DIR", help="songs to scan (default: generated MP3s)"
    )
    scan.add_argument(
        "--scan-songs", type=int, default=48, metavar="N", help="generated songs (default 48)"
    )
    scan.add_argument(
        "--scan-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="length of each generated song (default 30)",
    )
    scan.add_argument(
        "--scan-model",
        type=Path,
        metavar="PATH",
        help="scan with this model instead of untrained ones",
    )
    scan.add_argument(
        "--scan-file-mode",
        action="store_true",
        help="also time `emotrack file DIR --fast` on the same songs",
    )
    scan.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="CMD",
        help="also time CMD on the same songs ({dir} is their folder); repeatable",
    )
    scan.add_argument(
        "--hop",
        type=float,
        default=TRACK_HOP_SECONDS,
        metavar="S",
        help=f"the scan's hop (default {TRACK_HOP_SECONDS})",
    )
    scan.add_argument("--workers", type=int, metavar="N", help="scan decode workers")
    scan.add_argument("--batch", type=int, metavar="N", help="scan windows per model call")
    scan.add_argument("--threads", type=int, metavar="N", help="scan model threads on a CPU")


def run(args: argparse.Namespace) -> int:
    if args.light:
        return run_light(args)

    from emotrack.models.backbones import audio_config_for
    from emotrack.tracker.engine import Engine
    from emotrack.tracker.torch_engine import torch_device

    for name in args.backbones:
        audio_config_for(name)  # UserError for unknown names, before any work
    device = torch_device(args.device)
    machine = machine_info(device)
    print(f"emotrack bench on {machine['summary']}", file=sys.stderr)
    if args.scan:
        from emotrack.bench_scan import run_scan_bench

        return run_scan_bench(args, device, machine)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="emotrack-bench-") as tmp:
        tmp = Path(tmp)
        song = write_music(tmp / "song.wav", args.file_seconds)
        live = write_music(tmp / "live.wav", args.live_seconds)
        rows += bench_front_end(device)
        for name in args.backbones:
            run_dir = make_run(tmp / name, name, "onnx" in args.runtimes)
            if device.type == "cuda":
                rows.append(bench_backbone_throughput(run_dir, device, args.gpu_batch))
            if args.train:
                rows.append(bench_training(name, device))
                if args.compile:
                    rows.append(bench_training(name, device, compile=True))
            for runtime in args.runtimes:
                _say(f"{name} / {runtime}")
                where = str(device) if runtime == "torch" or _onnx_has_cuda() else "cpu"
                precision = args.precision if runtime == "torch" else "auto"
                engine = Engine.load(run_dir, device=where, backend=runtime, precision=precision)
                rows.append(bench_inference(engine))
                rows.append(bench_hop_latency(engine, live))
                rows.append(bench_file_mode(engine, song, "file mode"))
                if args.hour:
                    hour = write_hour(tmp / "hour.wav", song)
                    rows.append(bench_file_mode(engine, hour, "file mode, 1 hour"))
                    hour.unlink()
                del engine
    print(render_table(rows))
    if args.json:
        report = {"machine": machine, "results": [asdict(r) for r in rows]}
        write_json(args.json, report)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def run_light(args: argparse.Namespace) -> int:
    from emotrack.bench_light import bench_light

    machine = machine_info(None)
    print(f"emotrack bench --light on {machine['summary']}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="emotrack-bench-") as tmp:
        tmp = Path(tmp)
        song = write_music(tmp / "song.wav", args.file_seconds)
        model = args.model
        if model is None:
            model = make_run(tmp / "cnn", "cnn", onnx=True) / "model.onnx"
        rows = [
            Row(what, "cnn" if args.model is None else str(model), "onnxruntime CPU", "cpu", n)
            for what, n in bench_light(song, model)
        ]
    print(render_table(rows))
    if args.json:
        write_json(args.json, {"machine": machine, "results": [asdict(r) for r in rows]})
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- measurements


def bench_front_end(device: torch.device) -> list[Row]:
    """Windows per second through the shared front end, per audio configuration."""
    import torch

    from emotrack.models.audio import CNN_MEL, MEL_IMAGE
    from emotrack.models.frontend import FrontEnd

    rows = []
    for label, config in (("mel image 3x224x224", MEL_IMAGE), ("64-band mel", CNN_MEL)):
        front = FrontEnd(config).to(device)
        batch = 64
        x = torch.randn(batch, config.window_samples, device=device) * 0.1
        seconds = _timed(partial(front, x), device, repeats=5)
        rows.append(
            Row(
                "front end",
                label,
                "torch",
                str(device),
                {"windows_per_s": batch / seconds, "ms_per_window": 1e3 * seconds / batch},
            )
        )
    return rows


def bench_inference(engine) -> Row:
    """Front end + model per window: batch-1 latency and batched throughput."""
    one = np.random.default_rng(0).standard_normal((1, engine.window_samples)).astype(np.float32)
    single = []
    for _ in range(30):
        start = time.perf_counter()
        engine.predict(0.1 * one)
        single.append(time.perf_counter() - start)
    batch = engine.batch_size * 4
    many = np.repeat(0.1 * one, batch, axis=0)
    engine.predict(many)
    start = time.perf_counter()
    for _ in range(3):
        engine.predict(many)
    per_batch = (time.perf_counter() - start) / 3
    return Row(
        "inference",
        engine.backbone,
        engine.backend,
        engine.device_name,
        {
            "batch1_p50_ms": 1e3 * float(np.median(single)),
            "batch1_p95_ms": 1e3 * float(np.percentile(single, 95)),
            "batch": batch,
            "windows_per_s": batch / per_batch,
        },
    )


def bench_hop_latency(engine, path: Path) -> Row:
    """A file paced in real time (as a microphone would be): audio in to value out per hop."""
    from emotrack.tracker.session import track_file

    with StolenTime() as stolen:
        result = track_file(path, engine, fast=False, play=False)
    _raise_if_failed(result)
    stats = result.stats
    return Row(
        "hop latency (real time)",
        engine.backbone,
        engine.backend,
        engine.device_name,
        {
            "p50_ms": stats.latency_p50_ms,
            "p95_ms": stats.latency_p95_ms,
            "windows": stats.windows,
            "dropped": stats.dropped,
            **stolen.summary(),
        },
    )


def bench_file_mode(engine, path: Path, what: str) -> Row:
    """Track a file as fast as possible, decoding included; resident memory sampled meanwhile."""
    from emotrack.tracker.session import track_file

    with MemorySampler() as memory, StolenTime() as stolen:
        result = track_file(path, engine, fast=True, play=False)
    _raise_if_failed(result)
    stats = result.stats
    return Row(
        what,
        engine.backbone,
        engine.backend,
        engine.device_name,
        {
            "audio_s": stats.audio_seconds,
            "realtime_factor": stats.realtime_factor,
            "windows": stats.windows,
            **memory.summary(),
            **stolen.summary(),
        },
    )


def bench_backbone_throughput(run_dir: Path, device: torch.device, batch: int) -> Row:
    """The model alone on model-ready input, bf16 autocast: windows per second on the GPU."""
    import torch

    from emotrack.models.emotion import load_model

    model = load_model(run_dir, map_location=device)
    x = torch.randn(batch, *model.audio.input_shape, device=device)

    def step():
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            model(x)

    seconds = _timed(step, device, repeats=10)
    return Row(
        "backbone throughput",
        model.config.backbone,
        "torch bf16",
        torch.cuda.get_device_name(device),
        {"batch": batch, "windows_per_s": batch / seconds},
    )


def bench_training(name: str, device: torch.device, compile: bool = False) -> Row:
    """Forward + backward + AdamW step on model-ready input (bf16 autocast on the GPU)."""
    import torch

    from emotrack.models.emotion import ModelConfig, build_model

    tuned = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = device.type == "cuda"  # as emotrack-train sets it
    model = build_model(ModelConfig(backbone=name)).to(device).train()
    network = torch.compile(model) if compile else model
    batch = 128 if device.type == "cuda" else 8
    x = torch.randn(batch, *model.audio.input_shape, device=device)
    y = torch.randn(batch, 2, device=device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = torch.nn.functional.mse_loss(network(x).float(), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    started = time.perf_counter()
    step()  # compiles, when compiling
    first = time.perf_counter() - started
    seconds = _timed(step, device, repeats=3, calls=10)  # back to back, as emotrack-train runs
    torch.backends.cudnn.benchmark = tuned
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    numbers = {"batch": batch, "windows_per_s": batch / seconds, "first_step_s": first}
    return Row("training", name, "torch.compile" if compile else "torch", label, numbers)


# ---------------------------------------------------------------------------- helpers


class MemorySampler:
    """Samples this process's resident set every 50 ms while active."""

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._process = psutil.Process()

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._process.memory_info().rss)
            self._stop.wait(self.every)

    def summary(self) -> dict:
        mb = np.array(self.samples or [self._process.memory_info().rss]) / 2**20
        tenth = max(1, len(mb) // 10)
        return {
            "rss_peak_mb": float(mb.max()),
            "rss_first_tenth_mb": float(mb[:tenth].mean()),
            "rss_last_tenth_mb": float(mb[-tenth:].mean()),
        }


class StolenTime:
    """The share of CPU time a virtual machine's host gave to others while active ("steal":
    high values mean this machine's timings are not its own)."""

    def __enter__(self) -> StolenTime:
        self._start = psutil.cpu_times()
        return self

    def __exit__(self, *exc) -> None:
        self._end = psutil.cpu_times()

    def summary(self) -> dict:
        if not hasattr(self._start, "steal"):  # not Linux
            return {}
        total = sum(self._end) - sum(self._start)
        stolen = self._end.steal - self._start.steal
        return {"cpu_steal_pct": 100.0 * stolen / total if total > 0 else 0.0}


def make_run(folder: Path, backbone: str, onnx: bool) -> Path:
    """An untrained model saved as a run folder (best.pt) and, if asked, model.onnx."""
    import torch

    from emotrack.models.emotion import ModelConfig, atomic_save, build_model, checkpoint_dict
    from emotrack.offline.export import export_onnx

    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=backbone)).eval()
    atomic_save(checkpoint_dict(model), folder / "best.pt")
    if onnx:
        _say(f"exporting {backbone} to ONNX")
        result = export_onnx(folder)
        if not result.ok:
            raise RuntimeError(f"{backbone}: ONNX export differs from PyTorch by {result.diff}")
    return folder


def write_music(path: Path, seconds: float) -> Path:
    """A generated song (mid valence, rising arousal) as 16-bit WAV at 22.05 kHz."""
    from emotrack.offline.synth_music import Drift, render

    valence = Drift(0.2, (0.3,), (1 / 40,), (0.0,))
    arousal = Drift(0.0, (0.6,), (1 / 60,), (0.0,))
    audio = render(valence, arousal, seconds, MUSIC_RATE, 1, np.random.default_rng(0))
    sf.write(path, audio, MUSIC_RATE, subtype="PCM_16")
    return path


def write_hour(path: Path, song: Path) -> Path:
    """One hour of audio: the song repeated, written block by block."""
    block, rate = sf.read(song, dtype="int16")
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as out:
        written = 0
        while written < 3600 * rate:
            out.write(block)
            written += len(block)
    return path


def machine_info(device: torch.device | None) -> dict:
    """The CPU, cores, GPU and versions (``device`` None: no torch is used)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu, version = None, None
    if device is not None:
        import torch

        version = torch.__version__
        gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    summary = f"{cpu}, {cores} cores" + (f", {gpu}" if gpu else ", no GPU")
    return {
        "cpu": cpu,
        "cores": cores,
        "gpu": gpu,
        "torch": version,
        "python": platform.python_version(),
        "summary": summary,
    }


def render_table(rows: list[Row]) -> str:
    lines = [f"{'measurement':<26} {'backbone':<20} {'runtime':<24} {'device':<22} numbers"]
    for row in rows:
        numbers = ", ".join(f"{k}={_fmt(v)}" for k, v in row.numbers.items())
        lines.append(
            f"{row.what:<26} {row.backbone:<20} {row.runtime:<24} {row.device[:22]:<22} {numbers}"
        )
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _timed(fn: Callable[[], object], device: torch.device, repeats: int, calls: int = 1) -> float:
    """Seconds per call after two warm-up calls: the median over ``repeats`` rounds of
    ``calls`` calls each, the GPU synchronised only between rounds."""
    import torch

    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) / calls)
    return float(np.median(times))


def _onnx_has_cuda() -> bool:
    """Whether this ONNX Runtime build can run on the GPU (else ONNX is measured on the CPU)."""
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _raise_if_failed(result) -> None:
    if result.error:
        raise RuntimeError(f"benchmark track failed: {result.error}")


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr)
