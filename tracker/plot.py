"""A tracked timeline as a PNG: valence and arousal over time on DEAM's 1..9 scale."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from emotrack.models.atomic import write_atomic
from emotrack.models.scale import MIDDLE, SCALE_MAX, SCALE_MIN
from emotrack.tracker.session import Estimate

COLOURS = {"valence": "#d99a00", "arousal": "#b03bb0"}


def plot_timeline(estimates: Sequence[Estimate], path: Path, title: str = "") -> Path:
    """Draw valence and arousal (bold; with smoothing on, the raw per-window values faint
    behind them) and write ``path`` atomically (a temporary file renamed into place).
    Thread-safe: no pyplot state."""
    figure = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    times = [e.time for e in estimates]
    smoothed = any((e.raw_valence, e.raw_arousal) != (e.valence, e.arousal) for e in estimates)
    for name, colour in COLOURS.items():
        if smoothed:
            raw = [getattr(e, f"raw_{name}") for e in estimates]
            axes.plot(times, raw, color=colour, lw=0.8, alpha=0.3, label=f"{name} (raw)")
        axes.plot(times, [getattr(e, name) for e in estimates], color=colour, lw=2.0, label=name)
    axes.axhline(MIDDLE, color="0.6", lw=0.8, ls="--")
    axes.set(xlabel="time (s)", ylabel="rating (1..9)", ylim=(SCALE_MIN, SCALE_MAX))
    axes.set_title(title, loc="left")
    if times:
        axes.set_xlim(min(times), max(max(times), min(times) + 1.0))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, ncols=4)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomic(path, buffer.getvalue())
    return Path(path)
