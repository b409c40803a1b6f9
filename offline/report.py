"""Write a run's scores (``offline.evaluate``) as ``metrics.json``, ``report.md`` and
``plots/*.png`` in the run folder."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotrack.models.atomic import write_atomic, write_json
from emotrack.models.emotion import DIMENSIONS
from emotrack.offline.metrics import METRIC_NAMES, QUADRANT_NAMES
from emotrack.offline.plots import plot_confusion, plot_history, plot_predictions, plot_va_plane

METHOD_LABELS = {
    "model": "model",
    "mean": "mean baseline (training mean)",
    "ridge": "ridge on pooled mel stats",
    "majority": "majority quadrant baseline",
    "logistic": "logistic regression on pooled mel stats",
}
PLOT_FILES = {
    "history": "history.png",
    "predictions": "predictions.png",
    "va_plane": "va_plane.png",
    "confusion": "confusion.png",
}
QUADRANT_COLUMNS = (
    ("macro_f1", "macro-F1"),
    ("accuracy", "accuracy"),
    ("valence_accuracy", "valence sign"),
    ("arousal_accuracy", "arousal sign"),
)
_HEADINGS = {"r2": "R²", "rmse": "RMSE", "mae": "MAE", "pearson": "r", "ccc": "CCC"}
QUADRANT_RULES = (
    f"{QUADRANT_NAMES[0]} (v >= 5, a >= 5)",
    f"{QUADRANT_NAMES[1]} (v < 5, a >= 5)",
    f"{QUADRANT_NAMES[2]} (v < 5, a < 5)",
    f"{QUADRANT_NAMES[3]} (v >= 5, a < 5)",
)


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
    write_json(run_dir / "metrics.json", {**(extra or {}), **metrics})
    text = render_markdown(metrics, {k: p.relative_to(run_dir) for k, p in plots.items()}, title)
    return write_atomic(run_dir / "report.md", text)


def write_plots(folder: Path, metrics: dict, history: Sequence[dict]) -> dict[str, Path]:
    """The run's PNGs; prediction plots only for clips with continuous labels."""
    plots = {"history": plot_history(history, folder / PLOT_FILES["history"])}
    clips = metrics.get("clips") or {}
    rows = [i for i, true in enumerate(clips.get("true", [])) if true is not None]
    if rows:
        true = np.array([clips["true"][i] for i in rows])
        pred = np.array([clips["model"][i] for i in rows])
        plots["predictions"] = plot_predictions(true, pred, folder / PLOT_FILES["predictions"])
        plots["va_plane"] = plot_va_plane(true, pred, folder / PLOT_FILES["va_plane"])
    scores = metrics.get("methods", {}).get("model", {}).get("quadrants")
    if scores:
        plots["confusion"] = plot_confusion(
            np.array(scores["confusion"]), folder / PLOT_FILES["confusion"]
        )
    return plots


def render_markdown(metrics: dict, plots: dict[str, Path], title: str | None = None) -> str:
    """``report.md``: regression tables (song level, per frame), quadrant table, plots."""
    methods = metrics["methods"]
    lines = [
        f"# {title or 'emotrack evaluation'}",
        "",
        f"Split `{metrics.get('split', 'test')}`: {metrics['n_clips']} clips, "
        f"{metrics['n_windows']} windows. Values on the 1..9 plane; a clip's value is the mean "
        "of its window predictions.",
    ]
    if any(m.get("song") for m in methods.values()):
        lines += ["", "## Song level", "", *regression_table(methods, "song"), ""]
        lines.append(
            "r = Pearson correlation, CCC = concordance correlation; n/a = undefined "
            "(a constant prediction has no correlation)."
        )
    if any(m.get("frame") for m in methods.values()):
        lines += [
            "",
            "## Per frame (each window against its dynamic label, mapped to 1..9)",
            "",
            *regression_table({k: m for k, m in methods.items() if m.get("frame")}, "frame"),
        ]
    if any(m.get("quadrants") for m in methods.values()):
        lines += ["", "## Quadrants", "", "Around the centre 5: " + "; ".join(QUADRANT_RULES) + "."]
        lines += ["", *quadrant_table(methods)]
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"- [{name}]({path.as_posix()})" for name, path in plots.items()]
    return "\n".join(lines) + "\n"


def regression_table(methods: dict, level: str) -> list[str]:
    head = "| dimension | method | " + " | ".join(_HEADINGS[m] for m in METRIC_NAMES) + " | n |"
    rows = [head, "|" + "---|" * (len(METRIC_NAMES) + 3)]
    for dim in DIMENSIONS:
        for name, method in methods.items():
            scores = (method.get(level) or {}).get(dim)
            if scores is None:
                continue
            values = " | ".join(fmt(scores[m]) for m in METRIC_NAMES)
            rows.append(f"| {dim} | {METHOD_LABELS.get(name, name)} | {values} | {scores['n']} |")
    return rows


def quadrant_table(methods: dict) -> list[str]:
    """One row per method: macro-F1, accuracy, sign accuracies, F1 per quadrant."""
    head = ["method", *(label for _, label in QUADRANT_COLUMNS), *(f"F1 Q{i}" for i in range(1, 5))]
    rows = ["| " + " | ".join(head) + " | n |", "|" + "---|" * (len(head) + 1)]
    for name, method in methods.items():
        scores = method.get("quadrants")
        if not scores:
            continue
        cells = [fmt(scores[key]) for key, _ in QUADRANT_COLUMNS]
        cells += [fmt(v) for v in scores["f1"]]
        rows.append(f"| {METHOD_LABELS.get(name, name)} | {' | '.join(cells)} | {scores['n']} |")
    return rows


def fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text
