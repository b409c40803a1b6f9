"""`emotrack bench` by default: per backbone and runtime, the front end, inference per window
(batch-1 latency and batched throughput), the step latency from audio in to value out (a
real-time file source), the file-mode real-time factor (decoding included) and the tracker's
memory; on a GPU the backbone's throughput, and with --train training steps. Models are built
untrained (speed does not depend on the weights) and exported to ONNX in a temporary folder."""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import psutil
import soundfile as sf

from emotrack.bench_shared import Row, make_run, onnx_has_cuda, report, say, write_music

if TYPE_CHECKING:
    import torch


def run_engine_bench(args: argparse.Namespace, device: torch.device, machine: dict) -> int:
    """Every measurement above for each of --backbones and --runtimes on generated songs."""
    from emotrack.tracker.engine import Engine

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
                say(f"{name} / {runtime}")
                where = str(device) if runtime == "torch" or onnx_has_cuda() else "cpu"
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
    report(rows, machine, args.json)
    return 0


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
    from emotrack.tracker.headless import track_file

    with StolenTime() as stolen:
        result = track_file(path, engine, fast=False, play=False)
    _raise_if_failed(result)
    stats = result.stats
    return Row(
        "step latency (real time)",
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
    from emotrack.tracker.headless import track_file

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
    """The model alone on model-ready input, as the GPU engine runs it (bf16 weights,
    channels-last images): windows per second on the GPU."""
    import torch

    from emotrack.models.emotion import load_model

    model = load_model(run_dir, map_location=device).cast_network(torch.bfloat16)
    x = torch.randn(batch, *model.audio.input_shape, device=device, dtype=torch.bfloat16)
    if x.dim() == 4:
        model, x = (
            model.to(memory_format=torch.channels_last),
            x.to(memory_format=torch.channels_last),
        )

    def step():
        with torch.inference_mode():
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


def write_hour(path: Path, song: Path) -> Path:
    """One hour of audio: the song repeated, written block by block."""
    block, rate = sf.read(song, dtype="int16")
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as out:
        written = 0
        while written < 3600 * rate:
            out.write(block)
            written += len(block)
    return path


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


def _raise_if_failed(result) -> None:
    if result.error:
        raise RuntimeError(f"benchmark track failed: {result.error}")
