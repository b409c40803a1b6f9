"""What every part of `emotrack bench` shares: a measurement's :class:`Row` and the table and
JSON of them, the machine's description, an untrained model saved as a run folder (and ONNX),
generated music, and progress lines on stderr."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from emotrack.models.atomic import write_json

if TYPE_CHECKING:
    import torch

MUSIC_RATE = 22_050


@dataclass
class Row:
    """One measurement: what ran where, and its numbers."""

    what: str
    backbone: str
    runtime: str
    device: str
    numbers: dict = field(default_factory=dict)


def report(rows: list[Row], machine: dict, json_path: Path | None) -> None:
    """The table on stdout and, with ``json_path``, the machine and every row as JSON."""
    print(render_table(rows))
    if json_path:
        write_json(json_path, {"machine": machine, "results": [asdict(r) for r in rows]})
        print(f"wrote {json_path}", file=sys.stderr)


def make_run(folder: Path, backbone: str, onnx: bool) -> Path:
    """An untrained model saved as a run folder (best.pt) and, if asked, model.onnx."""
    import torch

    from emotrack.models.emotion import ModelConfig, atomic_save, build_model, checkpoint_dict
    from emotrack.offline.export import export_onnx

    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=backbone)).eval()
    atomic_save(checkpoint_dict(model), folder / "best.pt")
    if onnx:
        say(f"exporting {backbone} to ONNX")
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


def onnx_has_cuda() -> bool:
    """Whether this ONNX Runtime build can run on the GPU (else ONNX is measured on the CPU)."""
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr)
