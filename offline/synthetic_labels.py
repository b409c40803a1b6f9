"""The label files of a synthetic DEAM, written the way DEAM ships them: static CSVs (spaces
after the header's commas, CRLF, the 2015 file's 13 columns with the ``valence_ max_mean``
typo) and wide dynamic CSVs (``song_id,sample_15000ms,...`` at 2 Hz, empty cells past a song's
end), with the planted malformed rows and dynamic gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotrack.models.atomic import write_atomic
from emotrack.offline.synth_music import CONTROL_RATE
from emotrack.offline.synth_writer import SongPlan

ANNOTATIONS = Path("DEAM_Annotations/annotations/annotations averaged per song")
STATIC_DIR = ANNOTATIONS / "song_level"
DYNAMIC_DIR = ANNOTATIONS / "dynamic (per second annotations)"
STATIC_FILE = "static_annotations_averaged_songs_1_2000.csv"
STATIC_2015_FILE = "static_annotations_averaged_songs_2000_2058.csv"
STATIC_HEADER = ("song_id", "valence_mean", "valence_std", "arousal_mean", "arousal_std")
STATIC_2015_HEADER = (
    "song_id", "valence_mean", "valence_std", "valence_ max_mean", "valence_max_std",
    "valence_min_mean", "valence_min_std", "arousal_mean", "arousal_std", "arousal_max_mean",
    "arousal_max_std", "arousal_min_mean", "arousal_min_std",
)  # fmt: skip
DYNAMIC_START = 15.0  # s, the first annotated moment
DYNAMIC_STEP = 0.5  # s (2 Hz)


def write_labels(out_dir: Path, static_rows: dict, dynamic_rows: dict) -> None:
    """The static files (rows by file name) and the dynamic files (header, rows by dimension)."""
    for name, rows in static_rows.items():
        header = STATIC_HEADER if name == STATIC_FILE else STATIC_2015_HEADER
        write_atomic(out_dir / STATIC_DIR / name, _csv(", ".join(header), rows, "\r\n"))
    for dimension, (header, rows) in dynamic_rows.items():
        write_atomic(out_dir / DYNAMIC_DIR / f"{dimension}.csv", _csv(header, rows, "\n"))


def _nine(unit: float, noise: float) -> float:
    """-1..1 -> the 1..9 scale with rater noise, as DEAM prints means (one decimal)."""
    return float(np.clip(round(5.0 + 4.0 * unit + noise, 1), 1.0, 9.0))


def _g(x: float) -> str:
    """A number the way the 2013-2014 file prints it: ``3``, ``3.1``, ``0.94``."""
    return f"{x:g}"


def _stats(curve: np.ndarray) -> tuple[float, float, float]:
    """(mean, max, min) of a latent curve: what the static means, maxima and minima rate."""
    return float(curve.mean()), float(curve.max()), float(curve.min())


def _dynamic_times(duration: float) -> np.ndarray:
    count = int(np.ceil((duration - DYNAMIC_START) / DYNAMIC_STEP - 1e-9))
    return DYNAMIC_START + DYNAMIC_STEP * np.arange(max(count, 0))


def label_rows(plans: list[SongPlan], planted: dict, parameters: dict):
    """Rows of the static files (by file name), the dynamic files (header, rows) and where
    the malformed rows and dynamic gaps went."""
    noise_std = parameters["label_noise"]
    static: dict[str, list[str]] = {STATIC_FILE: [], STATIC_2015_FILE: []}
    curves: dict[str, list[tuple[int, list[str]]]] = {"valence": [], "arousal": []}
    malformed, where = planted["malformed_rows"], {"malformed_rows": [], "dynamic_gaps": []}
    for plan in (p for p in plans if p.labelled):
        rng = np.random.default_rng([parameters["seed"], plan.song_id, 1])
        stats = {}
        for dimension in ("valence", "arousal"):
            drift = getattr(plan, dimension)
            grid = drift(np.arange(0.0, plan.duration, 1.0 / CONTROL_RATE))
            noise = rng.normal(0.0, noise_std, 3)
            spread = np.round(rng.uniform((0.9, 0.5, 0.5), (2.1, 1.5, 1.5)), 2)
            means = [_nine(float(x), e) for x, e in zip(_stats(grid), noise, strict=True)]
            stats[dimension] = [float(x) for pair in zip(means, spread, strict=True) for x in pair]
        if plan.song_id in planted["swapped_ids"]:
            stats = {"valence": stats["arousal"], "arousal": stats["valence"]}
        v, a = stats["valence"], stats["arousal"]
        if plan.song_id > 2000:
            cells = [str(plan.song_id)] + [
                f"{x:.1f}" if k % 2 == 0 else _g(x) for k, x in enumerate(v + a)
            ]
            static[STATIC_2015_FILE].append(",".join(cells))
        else:
            cells = [str(plan.song_id), _g(v[0]), _g(v[1]), _g(a[0]), _g(a[1])]
            if plan.song_id in malformed:
                kind = ("too_few_fields", "not_a_number")[malformed.index(plan.song_id) % 2]
                cells = cells[:-1] if kind == "too_few_fields" else [*cells[:1], "five", *cells[2:]]
                line = len(static[STATIC_FILE]) + 2  # the header is line 1
                where["malformed_rows"].append(
                    {"song_id": plan.song_id, "kind": kind, "file": STATIC_FILE, "line": line}
                )
            static[STATIC_FILE].append(",".join(cells))
        times = _dynamic_times(plan.duration)
        holes = []
        if plan.song_id in planted["dynamic_gaps"]:
            holes = _gap_frames(plan.song_id, len(times))
            where["dynamic_gaps"].append(
                {"song_id": plan.song_id, "times": [float(times[k]) for k in holes]}
            )
        for dimension, blank in (("valence", ""), ("arousal", "NaN")):
            values = getattr(plan, dimension)(times)
            row = [blank if k in holes else f"{x:.4f}" for k, x in enumerate(values)]
            curves[dimension].append((plan.song_id, row))
    width = max((len(row) for _, row in curves["valence"]), default=0)
    times = DYNAMIC_START + DYNAMIC_STEP * np.arange(width)
    header = ",".join(["song_id"] + [f"sample_{int(round(t * 1000))}ms" for t in times])
    dynamic = {
        d: (header, [",".join([str(i)] + row + [""] * (width - len(row))) for i, row in rows])
        for d, rows in curves.items()
    }
    return {name: rows for name, rows in static.items() if rows}, dynamic, where


def _gap_frames(song_id: int, n_frames: int) -> list[int]:
    """Frames blanked in a planted gap: a run of 3 inside the row (never the first or last)."""
    if n_frames < 5:
        return [n_frames // 2]
    start = 1 + song_id % (n_frames - 4)
    return [start, start + 1, start + 2]


def _csv(header: str, rows: list[str], newline: str) -> bytes:
    return newline.join([header, *rows, ""]).encode("ascii")
