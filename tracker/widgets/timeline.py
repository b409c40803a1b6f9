"""One dimension over the last seconds as an area chart in eighth blocks with a 1..9 scale
(:func:`render_timeline`), shown by the :class:`TimelineChart` widget."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widget import Widget

from emotrack.models.scale import SCALE_MAX, SCALE_MIN
from emotrack.tracker.widgets.canvas import Canvas
from emotrack.tracker.widgets.drawing import AXIS_FADE, GREY, blend, clamp

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def render_timeline(
    samples: Sequence[tuple[float, float]],
    end: float,
    span: float,
    width: int,
    height: int,
    colour: str,
    background: Color,
) -> Text:
    """One dimension over the last ``span`` seconds up to ``end`` as an area chart in eighth
    blocks, with a 1..9 scale on the left (``9┤`` top, ``5┤`` middle, ``1┤`` bottom).
    ``samples`` are (time, value), oldest first; a column shows the latest value in it."""
    canvas = Canvas(width, height)
    gutter = 3
    columns = width - gutter
    if columns < 1 or not height:
        return canvas.to_text()
    axis = Style(color=blend(GREY, background, AXIS_FADE))
    tick = Style(color=blend(GREY, background, AXIS_FADE / 2))
    # 5 is the middle of the centre row (odd heights) or the top edge of the row below it
    mid_row = height // 2
    for row in range(height):
        label = {0: "9", mid_row: "5", height - 1: "1"}.get(row)
        canvas.write(0, row, f"{label}┤" if label else " │", tick if label else axis)
    canvas.write(gutter, mid_row, ("┈" if height % 2 else "▔") * columns, axis)
    shades = [  # a vertical gradient: full colour at the top, half-faded at the bottom
        Style(color=blend(colour, background, 0.5 * row / max(height - 1, 1)))
        for row in range(height)
    ]
    for col, value in enumerate(_columns(samples, end - span, span / columns, columns)):
        if value is None:
            continue
        level = max(1, round((clamp(value) - SCALE_MIN) / (SCALE_MAX - SCALE_MIN) * 8 * height))
        for row in range(height - 1 - (level - 1) // 8, height):
            fill = min(level - 8 * (height - 1 - row), 8)
            canvas.write(gutter + col, row, _EIGHTHS[fill], shades[row])
    return canvas.to_text()


def _columns(
    samples: Sequence[tuple[float, float]], start: float, step: float, count: int
) -> list[float | None]:
    """The value shown in each of ``count`` columns of ``step`` seconds from ``start``: the
    latest sample in the column, else the one before it; None outside the samples' span."""
    values: list[float | None] = [None] * count
    last_column = -1
    for time, value in samples:
        col = min(math.floor((time - start) / step), count - 1)
        if col < 0:
            values[0] = value  # before the window: carried into the first column
            last_column = 0
            continue
        for gap in range(last_column + 1, col):
            values[gap] = values[last_column] if last_column >= 0 else None
        values[col] = value
        last_column = col
    return values


class TimelineChart(Widget):
    """One dimension's recent history (an area chart with a 1..9 scale)."""

    DEFAULT_CSS = "TimelineChart { height: 1fr; }"

    def __init__(self, colour: str, span: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.colour, self.span = colour, span
        self.samples: list[tuple[float, float]] = []
        self.end = span

    def show(self, samples: Sequence[tuple[float, float]], end: float) -> None:
        self.samples, self.end = list(samples), max(end, self.span)
        self.refresh()

    def render(self) -> Text:
        size = self.size
        return render_timeline(
            self.samples,
            self.end,
            self.span,
            size.width,
            size.height,
            self.colour,
            self.background_colors[1],
        )
