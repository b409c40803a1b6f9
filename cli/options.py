"""Option groups that several commands share, defined once: which model, where it runs, and
the step between windows.

Each command module owns its parser (``add_arguments``) and builds it from these groups plus
its own options; `emotrack file`, `live`, `scan` and `bench` all say --model, --device,
--backend and --precision the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from emotrack.models.audio import TRACK_STEP_SECONDS, WINDOW_SECONDS
from emotrack.tracker.engine import BACKENDS, PRECISIONS

DEVICES = "auto|cpu|cuda"
DEFAULT_MODEL = "$EMOTRACK_MODEL, else the model shipped with emotrack (real music, 4Q)"


def add_device_options(group: argparse._ActionsContainer) -> None:
    """--device and --precision: where a model runs and what a PyTorch model computes in."""
    group.add_argument(
        "--device",
        default="auto",
        metavar=DEVICES,
        help="where the model runs (default auto: the GPU if there is one)",
    )
    group.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="what a PyTorch model computes in; auto: bf16 on a GPU, and on a CPU with bf16 "
        "in hardware (AVX512-BF16/AMX) for every backbone but the CNN, else fp32; values "
        "differ from fp32 by about 0.01 on the 1..9 scale (default auto)",
    )


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The "model" group: --model, --backend, --device and --precision."""
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        metavar="PATH",
        type=Path,
        help=f"training run folder, .pt checkpoint or exported model.onnx (default: "
        f"{DEFAULT_MODEL})",
    )
    model.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="torch (run folder, .pt) or onnx (ONNX Runtime, model.onnx); auto picks by the "
        "file, a run folder uses its checkpoint (default auto)",
    )
    add_device_options(model)


def add_step_option(group: argparse._ActionsContainer, note: str = "") -> None:
    """--step S (or its old name --hop): a new window every S seconds; ``note`` adds to the
    help. The STFT inside each window has a hop of its own; this is the tracker's step."""
    group.add_argument(
        "--step",
        "--hop",
        dest="step",
        type=float,
        default=TRACK_STEP_SECONDS,
        metavar="S",
        help=f"a new {WINDOW_SECONDS:g} s window every S seconds (default {TRACK_STEP_SECONDS}"
        f"{note}); --hop is its old name",
    )
