"""`emotrack bench`: how fast emotrack runs on this machine.

By default the tracker per backbone and runtime (``bench_engine``); ``--light`` the plain
install without torch (``bench_light``); ``--scan`` a library scan (``bench_scan``). Each prints
a table; ``--json`` writes the numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_BACKBONES = ("cnn", "mamba_vision_T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Measure emotrack's speed on this machine: front end, inference per window for each "
        "backbone and runtime, step latency (audio in to value out), file-mode real-time factor "
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
    from emotrack.options import add_step_option

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
        "--ray-actors",
        nargs="+",
        type=int,
        default=[],
        metavar="N",
        help="also time `emotrack scan --ray --actors N` (a local Ray) for each N",
    )
    add_step_option(scan)
    scan.add_argument("--workers", type=int, metavar="N", help="scan decode workers")
    scan.add_argument("--batch", type=int, metavar="N", help="scan windows per model call")
    scan.add_argument("--threads", type=int, metavar="N", help="scan model threads on a CPU")


def run(args: argparse.Namespace) -> int:
    from emotrack.bench_shared import machine_info

    if args.light:
        from emotrack.bench_light import run_light_bench

        return run_light_bench(args)

    from emotrack.models.backbones import audio_config_for
    from emotrack.tracker.torch_engine import torch_device

    for name in args.backbones:
        audio_config_for(name)  # UserError for unknown names, before any work
    device = torch_device(args.device)
    machine = machine_info(device)
    print(f"emotrack bench on {machine['summary']}", file=sys.stderr)
    if args.scan:
        from emotrack.bench_scan import run_scan_bench

        return run_scan_bench(args, device, machine)
    from emotrack.bench_engine import run_engine_bench

    return run_engine_bench(args, device, machine)
