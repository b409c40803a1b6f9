"""The valence-arousal plane: tinted quadrants, axes through 5, the fading trail of the
latest values and, for a library, every song as a dot (:func:`render_plane`), shown by the
:class:`VAPlane` widget."""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widget import Widget

from emotrack.models.scale import MIDDLE, SCALE_MAX, SCALE_MIN, quadrant
from emotrack.tracker.widgets.canvas import Canvas
from emotrack.tracker.widgets.drawing import (
    AXIS_FADE,
    GREY,
    QUADRANT_COLOURS,
    blend,
    colour_of,
    position,
)

TINT = 0.93  # quadrant background: this much widget background, the rest quadrant colour
TRAIL_FADE = 0.8  # the oldest trail point is blended this far into the background
DOT_FADE = 0.45  # songs of a library behind the trail: blended this far into the background


def render_plane(
    points: Sequence[tuple[float, float]],
    width: int,
    height: int,
    background: Color,
    dots: Sequence[tuple[float, float]] = (),
) -> Text:
    """The valence-arousal plane: tinted quadrants with their names, axes through 5, ``dots``
    (a library's songs, dimmed), the trail of ``points`` (oldest first, older dimmer) and the
    newest point as a marker."""
    canvas = Canvas(width, height)
    if not width or not height:
        return canvas.to_text()
    mid_col = position(MIDDLE, 2 * width) // 2
    mid_row = position(SCALE_MAX + SCALE_MIN - MIDDLE, 4 * height) // 4
    axis = Style(color=blend(GREY, background, AXIS_FADE))
    tick = Style(color=blend(GREY, background, AXIS_FADE / 2))
    canvas.write(0, mid_row, "─" * width, axis)
    for row in range(height):
        canvas.write(mid_col, row, "┼" if row == mid_row else "│", axis)
    canvas.write(0, mid_row, "1", tick)
    canvas.write(width - 1, mid_row, "9", tick)
    canvas.write(mid_col, 0, "9", tick)
    canvas.write(mid_col, height - 1, "1", tick)
    for high_valence in (False, True):
        for high_arousal in (False, True):
            name = quadrant(
                SCALE_MAX if high_valence else SCALE_MIN, SCALE_MAX if high_arousal else SCALE_MIN
            )
            colour = QUADRANT_COLOURS[name]
            cols = range(mid_col, width) if high_valence else range(0, mid_col)
            rows = range(0, mid_row) if high_arousal else range(mid_row, height)
            canvas.fill_background(cols, rows, blend(colour, background, TINT))
            room = (width - mid_col if high_valence else mid_col) - 3
            label = name if len(name) <= room else name.split("/")[0][:room]
            col = width - len(label) - 1 if high_valence else 1
            row = 0 if high_arousal else height - 1
            canvas.write(col, row, label, Style(color=blend(colour, background, 0.35)))
    if width >= 44 and height >= 6:
        canvas.write(width - 10, mid_row - 1, "valence →", tick)
        canvas.write(mid_col + 2, 1, "↑ arousal", tick)
    for valence, arousal in dots:
        colour = blend(colour_of(valence, arousal), background, DOT_FADE)
        canvas.dot(*_dot(canvas, valence, arousal), colour)
    _draw_trail(canvas, points, background)
    return canvas.to_text()


def _dot(canvas: Canvas, valence: float, arousal: float) -> tuple[int, int]:
    """A point's braille dot (x, y) on the canvas."""
    return (
        position(valence, 2 * canvas.width),
        position(SCALE_MAX + SCALE_MIN - arousal, 4 * canvas.height),
    )


def _draw_trail(canvas: Canvas, points: Sequence[tuple[float, float]], background: Color) -> None:
    if not points:
        return
    dots = [_dot(canvas, v, a) for v, a in points]
    n = len(points)
    for i in range(1, n):
        age = (n - 1 - i) / max(n - 1, 1)  # 0 newest .. 1 oldest
        colour = blend(colour_of(*points[i]), background, TRAIL_FADE * age)
        canvas.line(dots[i - 1], dots[i], colour)
    x, y = dots[-1]
    canvas.mark(x // 2, y // 4, "●", Style(color=colour_of(*points[-1]), bold=True))


class VAPlane(Widget):
    """The valence-arousal plane with the current point and its fading trail (and, for a
    library, every song's mean as a dot behind them)."""

    DEFAULT_CSS = """
    VAPlane {
        border: round $primary 60%; border-title-color: $text; padding: 0 1;
        border-subtitle-color: $text-muted;
    }
    VAPlane.-paused { border: round $warning; border-subtitle-color: $warning; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.points: list[tuple[float, float]] = []
        self.dots: list[tuple[float, float]] = []
        self.border_title = "valence × arousal"

    def show(
        self, points: Sequence[tuple[float, float]], dots: Sequence[tuple[float, float]] = ()
    ) -> None:
        self.points, self.dots = list(points), list(dots)
        self.refresh()

    def render(self) -> Text:
        size = self.size
        background = self.background_colors[1]
        return render_plane(self.points, size.width, size.height, background, self.dots)
