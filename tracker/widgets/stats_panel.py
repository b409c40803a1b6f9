"""The panel of live performance: inference latency, speed, windows, device and backend."""

from __future__ import annotations

import math

from rich.text import Text

from emotrack.tracker.session import TrackerStats
from emotrack.tracker.widgets.drawing import RED
from emotrack.tracker.widgets.info_panel import InfoPanel


class StatsPanel(InfoPanel):
    """Live performance: inference latency, speed, windows, device and backend."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "performance"
        self.stats: TrackerStats | None = None

    def show(self, stats: TrackerStats) -> None:
        self.stats = stats
        self.refresh()

    def render(self) -> Text:
        stats = self.stats
        if stats is None:
            return Text("")
        dropped = Text(f"{stats.dropped} dropped", RED if stats.dropped else "")
        return Text("\n", end="").join(
            [
                self.row(
                    "latency",
                    f"p50 {_ms(stats.latency_p50_ms)} · p95 {_ms(stats.latency_p95_ms)}",
                ),
                self.row("speed", _speed(stats.realtime_factor)),
                self.row("windows", Text.assemble(f"{stats.windows} · ", dropped)),
                self.row("device", f"{stats.device} · {stats.backend}"),
            ]
        )


def _ms(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _speed(realtime_factor: float | None) -> str:
    """``realtime_factor`` is audio seconds per wall second: about 1 for live audio."""
    if realtime_factor is None or not math.isfinite(realtime_factor):
        return "–"
    return f"{realtime_factor:.1f}× real time"
