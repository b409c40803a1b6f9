"""PNG figures of a run: training curves, predicted vs true, the valence-arousal plane and
the quadrant confusion matrix. Matplotlib's Agg backend, no display needed.

Every function takes arrays on the 1..9 scale (columns valence, arousal), writes one PNG
atomically and returns its path.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from emotrack.models.atomic import write_atomic  # noqa: E402
from emotrack.models.scale import DIMENSIONS, MIDDLE, SCALE_MAX, SCALE_MIN  # noqa: E402
from emotrack.offline.metrics import QUADRANT_NAMES, confusion_scores, r2  # noqa: E402

DPI = 120
LIMITS = (SCALE_MIN - 0.2, SCALE_MAX + 0.2)
MAX_EPOCH_TICKS = 15  # up to this many epochs, one tick each


def plot_history(history: Sequence[dict], path: str | Path) -> Path:
    """Loss (train and val) and validation scores against the epoch.

    Reads per-epoch keys ``epoch``, ``train_loss``, ``val_loss``, ``val_r2_valence``,
    ``val_r2_arousal`` (continuous labels) and ``val_macro_f1`` (quadrants); a missing key is
    left out of the figure."""
    fig, (loss_ax, r2_ax) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    epochs = [entry.get("epoch", i + 1) for i, entry in enumerate(history)]
    _curve(loss_ax, epochs, history, "train_loss", "train")
    _curve(loss_ax, epochs, history, "val_loss", "val")
    loss_ax.set(title="Loss per epoch", xlabel="epoch", ylabel="loss (z-score units)")
    for name in DIMENSIONS:
        _curve(r2_ax, epochs, history, f"val_r2_{name}", f"R² {name}")
    _curve(r2_ax, epochs, history, "val_macro_f1", "quadrant macro-F1")
    r2_ax.axhline(0.0, color="grey", linewidth=0.8, linestyle=":")
    r2_ax.set(title="Validation scores per epoch", xlabel="epoch", ylabel="score")
    for ax in (loss_ax, r2_ax):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        if 0 < len(epochs) <= MAX_EPOCH_TICKS:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def plot_predictions(
    true: np.ndarray, pred: np.ndarray, path: str | Path, label: str = "model"
) -> Path:
    """Predicted against true, one panel per dimension, identity line, R² in each title."""
    true, pred = np.asarray(true, dtype=float), np.asarray(pred, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(11, 6), layout="constrained")
    for d, (ax, name) in enumerate(zip(axes, DIMENSIONS, strict=True)):
        score = _fmt(r2(pred[:, d], true[:, d]) if len(true) else np.nan)
        ax.plot(LIMITS, LIMITS, color="grey", linewidth=1, linestyle="--", label="identity")
        ax.scatter(true[:, d], pred[:, d], s=14, alpha=0.6, label=f"clips (n={len(true)})")
        ax.set(
            title=f"{label}: {name}, R² = {score}",
            xlabel=f"true {name} (1..9)",
            ylabel=f"predicted {name} (1..9)",
            xlim=LIMITS,
            ylim=LIMITS,
            aspect="equal",
        )
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    return _save(fig, path)


def plot_va_plane(
    true: np.ndarray, pred: np.ndarray, path: str | Path, label: str = "model"
) -> Path:
    """True and predicted songs on the valence-arousal plane, each pair joined by a line,
    with the quadrant boundaries at the scale centre and the quadrant names."""
    true, pred = np.asarray(true, dtype=float), np.asarray(pred, dtype=float)
    fig, ax = plt.subplots(figsize=(8, 7), layout="constrained")
    for t, p in zip(true, pred, strict=True):
        ax.plot([t[0], p[0]], [t[1], p[1]], color="lightgrey", linewidth=0.6, zorder=1)
    ax.scatter(true[:, 0], true[:, 1], s=16, color="tab:blue", label="true", zorder=2)
    ax.scatter(pred[:, 0], pred[:, 1], s=16, color="tab:orange", label=label, zorder=3)
    ax.axvline(MIDDLE, color="black", linewidth=0.8)
    ax.axhline(MIDDLE, color="black", linewidth=0.8)
    corners = ((0.98, 0.98, "right", "top"), (0.02, 0.98, "left", "top"))
    corners += ((0.02, 0.02, "left", "bottom"), (0.98, 0.02, "right", "bottom"))
    for name, (x, y, ha, va) in zip(QUADRANT_NAMES, corners, strict=True):
        ax.text(x, y, name, transform=ax.transAxes, ha=ha, va=va, fontsize=9, color="dimgrey")
    ax.set(
        title=f"Valence-arousal plane: true vs {label} (n={len(true)} clips)",
        xlabel="valence (1..9)",
        ylabel="arousal (1..9)",
        xlim=LIMITS,
        ylim=LIMITS,
        aspect="equal",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _save(fig, path)


def plot_confusion(
    confusion: np.ndarray,
    path: str | Path,
    names: Sequence[str] = QUADRANT_NAMES,
    label: str = "model",
) -> Path:
    """Quadrant confusion matrix (rows true, columns predicted), counts in each cell."""
    confusion = np.asarray(confusion, dtype=np.int64)
    scores = confusion_scores(confusion)
    fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    image = ax.imshow(confusion, cmap="Blues", vmin=0, vmax=max(int(confusion.max()), 1))
    fig.colorbar(image, ax=ax, label="clips")
    threshold = confusion.max() / 2 if confusion.max() else 1
    for (row, col), count in np.ndenumerate(confusion):
        colour = "white" if count > threshold else "black"
        ax.text(col, row, str(count), ha="center", va="center", color=colour, fontsize=11)
    ticks = range(len(names))
    ax.set_xticks(ticks, [n.replace(" ", "\n", 1) for n in names])
    ax.set_yticks(ticks, [n.replace(" ", "\n", 1) for n in names])
    ax.set(
        title=f"Quadrants, {label}: accuracy {_fmt(scores['accuracy'])}, "
        f"macro-F1 {_fmt(scores['macro_f1'])}",
        xlabel="predicted quadrant",
        ylabel="true quadrant",
    )
    return _save(fig, path)


def _curve(ax, epochs: list, history: Sequence[dict], key: str, label: str) -> None:
    points = [
        (e, h[key])
        for e, h in zip(epochs, history, strict=True)
        if h.get(key) is not None and np.isfinite(h[key])
    ]
    if points:
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", markersize=4, label=label)


def _fmt(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _save(fig: Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return write_atomic(path, buffer.getvalue())
