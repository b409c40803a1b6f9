"""`emotrack demo`: the whole product in a few minutes, with no download.

Generates a synthetic DEAM (music whose emotion is a known function of tempo, density,
brightness, mode, consonance and register), trains the small CNN on it, then tracks a new
generated song whose emotion travels around the valence-arousal plane.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from emotrack.models.atomic import write_atomic

DEFAULT_OUT = Path("~/.cache/emotrack/demo")  # the generated set, the model (run/), the song
RUN_NAME = "run"
DEMO_SONG_SECONDS = 60.0
DEMO_SONG_RATE = 44_100
NOTICE = (
    "NOTE: this demo model learned synthetic musical cues (tempo, density, brightness, mode,\n"
    "consonance, register), not human emotion ratings. For real music, `emotrack file` and\n"
    "`emotrack live` use the shipped model trained on the 4Q dataset."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Generate a synthetic DEAM, train a small CNN on it (CPU, a few minutes), then track a "
        "generated song whose emotion circles the valence-arousal plane. Needs no download. "
        "Rerunning reuses the data and the model already in --out."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"where data, model and song go (default {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--songs", type=int, default=120, metavar="N", help="synthetic songs (default 120)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        metavar="S",
        help="length of each synthetic clip, at least 15.5 (default 20)",
    )
    parser.add_argument(
        "--epochs", type=int, default=8, metavar="N", help="training epochs (default 8)"
    )
    parser.add_argument(
        "--retrain", action="store_true", help="train again even if --out holds a model"
    )
    parser.add_argument(
        "--no-tui", action="store_true", help="print one line per window instead of the UI"
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="track as fast as possible instead of in real time (implied by --no-tui)",
    )


def run(args: argparse.Namespace) -> int:
    from emotrack.main import main as emotrack_main

    out = args.out.expanduser()
    print(NOTICE, file=sys.stderr)
    run_dir = train_demo_model(out, args.songs, args.seconds, args.epochs, args.retrain)
    song = write_demo_song(out / "demo_song.mp3")
    print(f"\ntracking {song} with {run_dir}\n{NOTICE}\n", file=sys.stderr)
    timeline = out / "demo_timeline.csv"
    track = ["file", str(song), "--model", str(run_dir), "--save-dir", str(out)]
    track += ["--csv", str(timeline)]
    if args.no_tui:
        track += ["--no-tui", "--fast"]
    elif args.fast:
        track += ["--fast"]
    code = emotrack_main(track)
    if code == 0 and timeline.is_file():
        r = agreement(timeline)
        print(
            f"agreement with the song's planted trajectory: r = {r['valence']:.2f} for valence "
            f"and {r['arousal']:.2f} for arousal (Pearson, over {r['windows']} windows)",
            file=sys.stderr,
        )
    return code


def planted() -> tuple:
    """The demo song's latent curves (valence, arousal), -1..1: once around the plane."""
    from emotrack.offline.synth_music import Drift

    turn = 1.0 / DEMO_SONG_SECONDS
    return Drift(0.0, (0.75,), (turn,), (0.0,)), Drift(0.0, (0.75,), (turn,), (np.pi / 2,))


def agreement(timeline_csv: Path) -> dict:
    """Pearson r between the tracked values and the planted curves averaged over each window."""
    import csv

    from emotrack.models.audio import WINDOW_SECONDS

    rows = list(csv.DictReader(timeline_csv.open()))
    ends = np.array([float(row["time"]) for row in rows])
    result: dict = {"windows": len(rows)}
    for name, curve in zip(("valence", "arousal"), planted(), strict=True):
        inside = ends[:, None] - WINDOW_SECONDS * np.linspace(0, 1, 51)[None, :]
        truth = curve(inside.reshape(-1)).reshape(inside.shape).mean(axis=1)
        tracked = np.array([float(row[f"raw_{name}"]) for row in rows])
        result[name] = float(np.corrcoef(tracked, truth)[0, 1])
    return result


def train_demo_model(out: Path, songs: int, seconds: float, epochs: int, retrain: bool) -> Path:
    """Generate the data and train the CNN, unless a finished demo run is already there."""
    from emotrack.offline.synthetic import generate_deam
    from emotrack.offline.train import TrainConfig, train

    run_dir = out / RUN_NAME
    if (run_dir / "best.pt").is_file() and not retrain:
        print(f"using the demo model already trained in {run_dir}", file=sys.stderr)
        return run_dir
    data = generate_deam(out / "data", n_songs=songs, seed=0, clip_seconds=seconds)
    config = TrainConfig(
        data_dir=[str(data)],
        cache_dir=str(out / "cache"),
        backbone="cnn",
        labels="static",
        epochs=epochs,
        out=str(run_dir),
        device="cpu",
    )
    if run_dir.exists() and retrain:
        import shutil

        shutil.rmtree(run_dir)
    return train(config)


def write_demo_song(path: Path) -> Path:
    """A song whose valence and arousal circle the plane once a minute (all four quadrants)."""
    from emotrack.offline.synth_music import render
    from emotrack.offline.synth_writer import encode_mp3

    if path.is_file():
        return path
    valence, arousal = planted()
    audio = render(valence, arousal, DEMO_SONG_SECONDS, DEMO_SONG_RATE, 1, np.random.default_rng(7))
    write_atomic(path, encode_mp3(audio, DEMO_SONG_RATE))
    return path
