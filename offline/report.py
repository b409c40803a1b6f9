"""Score a run's predictions against the baselines and write ``metrics.json``, ``report.md``
and ``plots/*.png`` into the run folder.

The training loop calls :func:`evaluate_predictions` with window-level arrays, then
:func:`write_report` with its result and the per-epoch history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotrack.models.atomic import write_atomic, write_json
from emotrack.models.emotion import DEAM_SCALE, DIMENSIONS
from emotrack.offline.baselines import BaselineInputs, mean_baseline, ridge_baseline
from emotrack.offline.metrics import (
    METRIC_NAMES,
    QUADRANT_NAMES,
    frame_metrics,
    quadrant_report,
    regression_metrics,
    song_level,
)
from emotrack.offline.plots import plot_confusion, plot_history, plot_predictions, plot_va_plane

METHOD_LABELS = {
    "model": "model",
    "mean": "mean baseline (training mean)",
    "ridge": "ridge on pooled mel stats",
}
PLOT_FILES = {
    "history": "history.png",
    "predictions": "predictions.png",
    "va_plane": "va_plane.png",
    "confusion": "confusion.png",
}
_HEADINGS = {"r2": "R²", "rmse": "RMSE", "mae": "MAE", "pearson": "r", "ccc": "CCC"}


def evaluate_predictions(
    song_ids: np.ndarray,
    preds: np.ndarray,
    static_true: np.ndarray,
    dynamic_true: np.ndarray | None = None,
    baselines: BaselineInputs | None = None,
    split: str = "test",
) -> dict:
    """Score window predictions of one split, song-level and (with dynamic labels) per frame.

    - ``song_ids`` (N,): the song of each window.
    - ``preds`` (N, 2): the model's (valence, arousal) per window on 1..9 (``model.to_deam``).
    - ``static_true`` (N, 2): each window's song-level label on 1..9 (the same for all windows
      of a song; songs with a NaN label are left out of the song-level scores).
    - ``dynamic_true`` (N, 2) or None: per-window dynamic targets on -1..1, NaN where missing.
    - ``baselines``: train/val features and targets; None scores the model alone.

    Returns a JSON-ready dict (NaN for undefined values): ``methods`` maps ``model``, ``mean``
    and ``ridge`` to ``{"song": per-dimension metrics, "frame": ... or None, "quadrants":
    {"names", "confusion", "accuracy"}}``; ``songs`` holds the per-song arrays the plots use."""
    song_ids = np.asarray(song_ids)
    preds = np.asarray(preds, dtype=np.float64)
    ids, song_pred = song_level(song_ids, preds)
    _, song_true = song_level(song_ids, np.asarray(static_true, dtype=np.float64))
    labelled = np.isfinite(song_true).all(axis=1)
    if not labelled.any():
        raise ValueError(f"no song of the {split} split has a static label to evaluate against")
    ids, song_pred, song_true = ids[labelled], song_pred[labelled], song_true[labelled]

    predictions = {"model": song_pred}
    fits: dict[str, dict] = {}
    if baselines is not None:
        mean = mean_baseline(baselines.train_targets)
        predictions["mean"] = mean.predict(len(ids))
        fits["mean"] = {"mean": mean.mean.tolist()}
        ridge = ridge_baseline(
            baselines.train_features,
            baselines.train_targets,
            baselines.val_features,
            baselines.val_targets,
        )
        predictions["ridge"] = ridge.predict(_rows_for(ids, baselines))
        fits["ridge"] = {
            "alpha": dict(zip(DIMENSIONS, ridge.alpha, strict=True)),
            "features": int(baselines.train_features.shape[1]),
            "train_songs": len(baselines.train_targets),
            "val_songs": len(baselines.val_targets),
        }

    methods = {}
    for name, song_values in predictions.items():
        methods[name] = {
            "song": regression_metrics(song_values, song_true),
            "frame": None,
            "quadrants": quadrant_report(song_values, song_true),
            **({"fit": fits[name]} if name in fits else {}),
        }
    if dynamic_true is not None:
        methods["model"]["frame"] = frame_metrics(preds, dynamic_true)
    return {
        "split": split,
        "scale": DEAM_SCALE,
        "n_songs": len(ids),
        "n_windows": len(song_ids),
        "methods": methods,
        "songs": {
            "ids": ids.tolist(),
            "true": song_true.tolist(),
            **{name: values.tolist() for name, values in predictions.items()},
        },
    }


def write_report(
    run_dir: str | Path,
    metrics: dict,
    history: Sequence[dict],
    extra: dict | None = None,
    title: str | None = None,
) -> Path:
    """Write ``metrics.json`` (``metrics`` plus ``extra``, NaN as null), the plots under
    ``plots/`` and ``report.md``; returns the report's path. Every file is written atomically."""
    run_dir = Path(run_dir)
    plots = write_plots(run_dir / "plots", metrics, history)
    document = {**(extra or {}), **metrics}
    write_json(run_dir / "metrics.json", document)
    text = render_markdown(metrics, {k: p.relative_to(run_dir) for k, p in plots.items()}, title)
    return write_atomic(run_dir / "report.md", text)


def write_plots(folder: Path, metrics: dict, history: Sequence[dict]) -> dict[str, Path]:
    """The run's PNGs; the prediction plots need ``metrics["songs"]`` (skipped without it)."""
    plots = {"history": plot_history(history, folder / PLOT_FILES["history"])}
    songs = metrics.get("songs")
    if songs and songs.get("ids"):
        true, pred = np.array(songs["true"]), np.array(songs["model"])
        plots["predictions"] = plot_predictions(true, pred, folder / PLOT_FILES["predictions"])
        plots["va_plane"] = plot_va_plane(true, pred, folder / PLOT_FILES["va_plane"])
    confusion = metrics.get("methods", {}).get("model", {}).get("quadrants")
    if confusion:
        plots["confusion"] = plot_confusion(
            np.array(confusion["confusion"]), folder / PLOT_FILES["confusion"]
        )
    return plots


def render_markdown(metrics: dict, plots: dict[str, Path], title: str | None = None) -> str:
    """``report.md``: song-level table (model vs baselines), per-frame table, quadrants, plots."""
    methods = metrics["methods"]
    split = metrics.get("split", "test")
    lines = [
        f"# {title or 'emotrack evaluation'}",
        "",
        f"Split `{split}`: {metrics['n_songs']} songs, {metrics['n_windows']} windows. "
        "Scores on DEAM's 1..9 scale; song level = mean of a song's window predictions.",
        "",
        "## Song level",
        "",
        *_table(methods, "song"),
        "",
        "r = Pearson correlation, CCC = concordance correlation; n/a = undefined "
        "(a constant prediction has no correlation).",
    ]
    if any(m.get("frame") for m in methods.values()):
        lines += [
            "",
            "## Per frame (each window against its dynamic label, mapped to 1..9)",
            "",
            *_table({k: m for k, m in methods.items() if m.get("frame")}, "frame"),
        ]
    lines += [
        "",
        "## Quadrants",
        "",
        "Around the centre 5: " + "; ".join(_QUADRANT_RULES) + ".",
        "",
        "| method | accuracy |",
        "|---|---|",
        *(
            f"| {METHOD_LABELS.get(k, k)} | {_fmt(m['quadrants']['accuracy'])} |"
            for k, m in methods.items()
        ),
    ]
    ridge_fit = methods.get("ridge", {}).get("fit")
    if ridge_fit:
        alphas = ", ".join(f"{d} {a:.3g}" for d, a in ridge_fit["alpha"].items())
        lines += [
            "",
            f"Ridge: {ridge_fit['features']} features (mean and std over time of each mel band), "
            f"fitted on {ridge_fit['train_songs']} training songs; penalty chosen on "
            f"{ridge_fit['val_songs']} validation songs: {alphas}.",
        ]
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"- [{name}]({path.as_posix()})" for name, path in plots.items()]
    return "\n".join(lines) + "\n"


_QUADRANT_RULES = (
    f"{QUADRANT_NAMES[0]} (v >= 5, a >= 5)",
    f"{QUADRANT_NAMES[1]} (v < 5, a >= 5)",
    f"{QUADRANT_NAMES[2]} (v < 5, a < 5)",
    f"{QUADRANT_NAMES[3]} (v >= 5, a < 5)",
)


def _table(methods: dict, level: str) -> list[str]:
    head = "| dimension | method | " + " | ".join(_HEADINGS[m] for m in METRIC_NAMES) + " | n |"
    rows = [head, "|" + "---|" * (len(METRIC_NAMES) + 3)]
    for dim in DIMENSIONS:
        for name, method in methods.items():
            scores = method[level].get(dim)
            if scores is None:
                continue
            values = " | ".join(_fmt(scores[m]) for m in METRIC_NAMES)
            rows.append(f"| {dim} | {METHOD_LABELS.get(name, name)} | {values} | {scores['n']} |")
    return rows


def _rows_for(ids: np.ndarray, baselines: BaselineInputs) -> np.ndarray:
    """Baseline features in the order of ``ids``."""
    position = {int(i): row for row, i in enumerate(baselines.eval_ids)}
    missing = [int(i) for i in ids if int(i) not in position]
    if missing:
        raise ValueError(f"baseline features missing for songs {missing[:10]}")
    return baselines.eval_features[[position[int(i)] for i in ids]]


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text
