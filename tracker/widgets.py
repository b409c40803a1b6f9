"""Widgets of the live tracker UI: the valence-arousal plane, timelines and the info panels.

Charts are drawn on a :class:`Canvas` sized to the widget (braille dots for the plane's trail,
eighth blocks for the timelines), so what a chart shows is a pure function of its data and
its size (the ``render_*`` functions). Everything is on DEAM's 1..9 scale: valence
horizontal, arousal vertical, 5 in the middle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widget import Widget

from emotrack.models.scale import MIDDLE, QUADRANTS, SCALE_MAX, SCALE_MIN, quadrant
from emotrack.tracker.session import TrackerStats
from emotrack.tracker.sources import SourceStatus

RED, YELLOW, BLUE, GREEN = "#ef6f6c", "#f2c14e", "#5fa8e8", "#7bc47f"
PINK, GREY = "#e07be0", "#c0c0c0"
QUADRANT_COLOURS = dict(zip(QUADRANTS, (YELLOW, RED, BLUE, GREEN), strict=True))  # Q1..Q4
VALENCE_COLOUR, AROUSAL_COLOUR = YELLOW, PINK
AXIS_FADE = 0.72  # how far axes are blended into the background (ticks half as far)
TINT = 0.93  # quadrant background: this much widget background, the rest quadrant colour
TRAIL_FADE = 0.8  # the oldest trail point is blended this far into the background
LEVEL_FLOOR_DB = -60.0  # the level meter's left end
_EIGHTHS = " ▁▂▃▄▅▆▇█"


def colour_of(valence: float, arousal: float) -> str:
    """The colour of the quadrant a point lies in."""
    return QUADRANT_COLOURS[quadrant(valence, arousal)]


def blend(colour: str, background: Color, amount: float) -> str:
    """``colour`` moved ``amount`` (0..1) of the way towards ``background``, as hex."""
    return Color.parse(colour).blend(background, amount).hex


def _clamp(value: float) -> float:
    if not math.isfinite(value):
        return MIDDLE
    return min(max(value, SCALE_MIN), SCALE_MAX)


def _scale(value: float, size: int) -> int:
    """1..9 -> 0..size-1 (dot or cell coordinate)."""
    return round((_clamp(value) - SCALE_MIN) / (SCALE_MAX - SCALE_MIN) * (size - 1))


# ---------------------------------------------------------------------------- canvas

# bit of the braille dot at [dot row][dot column] within one cell (Unicode braille order)
_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_BRAILLE_BASE = 0x2800


class Canvas:
    """``width`` x ``height`` cells; braille dots at 0..2*width-1 x 0..4*height-1.

    Layers, bottom to top: base text (axes, labels), braille dots (data), marks. A cell has
    one foreground colour (its top layer's) and an optional background colour.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = max(width, 0), max(height, 0)
        cells = range(self.height)
        self._text = [[(" ", Style())] * self.width for _ in cells]
        self._bits = [[0] * self.width for _ in cells]
        self._dot_colour: list[list[str | None]] = [[None] * self.width for _ in cells]
        self._background: list[list[str | None]] = [[None] * self.width for _ in cells]
        self._marks: dict[tuple[int, int], tuple[str, Style]] = {}

    def inside(self, col: int, row: int) -> bool:
        return 0 <= col < self.width and 0 <= row < self.height

    def write(self, col: int, row: int, text: str, style: Style) -> None:
        """Base-layer text from a cell rightwards, clipped to the canvas."""
        for offset, char in enumerate(text):
            if self.inside(col + offset, row):
                self._text[row][col + offset] = (char, style)

    def fill_background(self, cols: range, rows: range, colour: str) -> None:
        for row in rows:
            for col in cols:
                if self.inside(col, row):
                    self._background[row][col] = colour

    def dot(self, x: int, y: int, colour: str) -> None:
        """One braille dot; a cell takes the colour of the last dot drawn into it."""
        col, row = x // 2, y // 4
        if x < 0 or y < 0 or not self.inside(col, row):
            return
        self._bits[row][col] |= _BRAILLE_BITS[y % 4][x % 2]
        self._dot_colour[row][col] = colour

    def line(self, start: tuple[int, int], end: tuple[int, int], colour: str) -> None:
        """Dots along a straight segment, both ends included."""
        (x0, y0), (x1, y1) = start, end
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in range(steps + 1):
            self.dot(round(x0 + (x1 - x0) * i / steps), round(y0 + (y1 - y0) * i / steps), colour)

    def mark(self, col: int, row: int, char: str, style: Style) -> None:
        """Top-layer character, drawn over dots and base text."""
        if self.inside(col, row):
            self._marks[(col, row)] = (char, style)

    def to_text(self) -> Text:
        """The canvas as Rich text; neighbouring cells of one style share one span."""
        text = Text(no_wrap=True, overflow="crop", end="")
        for row in range(self.height):
            if row:
                text.append("\n")
            run: list[str] = []
            run_key: tuple[Style, str | None] | None = None
            for col in range(self.width):
                char, style = self._cell(col, row)
                key = (style, self._background[row][col])
                if key != run_key:
                    if run_key is not None:
                        text.append("".join(run), _with_background(*run_key))
                    run, run_key = [], key
                run.append(char)
            if run_key is not None:
                text.append("".join(run), _with_background(*run_key))
        return text

    def _cell(self, col: int, row: int) -> tuple[str, Style]:
        if (col, row) in self._marks:
            return self._marks[(col, row)]
        if self._bits[row][col]:
            char = chr(_BRAILLE_BASE + self._bits[row][col])
            return char, Style(color=self._dot_colour[row][col])
        return self._text[row][col]


def _with_background(style: Style, background: str | None) -> Style:
    return style + Style(bgcolor=background) if background else style


# ---------------------------------------------------------------------------- charts


def render_plane(
    points: Sequence[tuple[float, float]], width: int, height: int, background: Color
) -> Text:
    """The valence-arousal plane: tinted quadrants with their names, axes through 5, the
    trail of ``points`` (oldest first, older dimmer) and the newest point as a marker."""
    canvas = Canvas(width, height)
    if not width or not height:
        return canvas.to_text()
    mid_col = _scale(MIDDLE, 2 * width) // 2
    mid_row = _scale(SCALE_MAX + SCALE_MIN - MIDDLE, 4 * height) // 4
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
    _draw_trail(canvas, points, background)
    return canvas.to_text()


def _draw_trail(canvas: Canvas, points: Sequence[tuple[float, float]], background: Color) -> None:
    if not points:
        return
    dots = [
        (_scale(v, 2 * canvas.width), _scale(SCALE_MAX + SCALE_MIN - a, 4 * canvas.height))
        for v, a in points
    ]
    n = len(points)
    for i in range(1, n):
        age = (n - 1 - i) / max(n - 1, 1)  # 0 newest .. 1 oldest
        colour = blend(colour_of(*points[i]), background, TRAIL_FADE * age)
        canvas.line(dots[i - 1], dots[i], colour)
    x, y = dots[-1]
    canvas.mark(x // 2, y // 4, "●", Style(color=colour_of(*points[-1]), bold=True))


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
        level = max(1, round((_clamp(value) - SCALE_MIN) / (SCALE_MAX - SCALE_MIN) * 8 * height))
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


def bar(fraction: float, width: int, colour: str, background: Color) -> Text:
    """A horizontal bar, ``fraction`` (0..1) of it filled, in half-cell steps."""
    halves = round(min(max(fraction, 0.0), 1.0) * width * 2)
    full, half = divmod(halves, 2)
    text = Text(no_wrap=True, end="")
    text.append("━" * full, Style(color=colour))
    text.append("╸" * half, Style(color=colour))
    text.append("━" * (width - full - half), Style(color=blend(GREY, background, 0.8)))
    return text


def level_colour(db: float) -> str:
    """Green while the signal is comfortable, yellow when loud, red near clipping."""
    if db >= -3.0:
        return RED
    if db >= -12.0:
        return YELLOW
    return GREEN


def format_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    minutes, secs = divmod(int(max(seconds, 0.0)), 60)
    return f"{minutes}:{secs:02d}"


# ---------------------------------------------------------------------------- widgets


class VAPlane(Widget):
    """The valence-arousal plane with the current point and its fading trail."""

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
        self.border_title = "valence × arousal"

    def show(self, points: Sequence[tuple[float, float]]) -> None:
        self.points = list(points)
        self.refresh()

    def render(self) -> Text:
        size = self.size
        return render_plane(self.points, size.width, size.height, self.background_colors[1])


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


class InfoPanel(Widget):
    """A bordered panel whose lines are (label, value) pairs; subclasses build the lines."""

    DEFAULT_CSS = """
    InfoPanel { border: round $primary 60%; border-title-color: $text; padding: 0 1; }
    """
    LABEL_WIDTH = 10

    def row(self, label: str, value: Text | str) -> Text:
        """One line: a muted label, then the value; cut with an ellipsis, never wrapped."""
        line = Text(end="")
        line.append(f"{label:<{self.LABEL_WIDTH}}", Style(color=self._muted))
        line.append(value if isinstance(value, Text) else Text(value))
        line.truncate(self.size.width, overflow="ellipsis")
        return line

    @property
    def _muted(self) -> str:
        return blend(GREY, self.background_colors[1], 0.35)

    @property
    def _value_width(self) -> int:
        return max(self.size.width - self.LABEL_WIDTH, 0)


class NowPanel(InfoPanel):
    """The latest valence and arousal with bars over 1..9, and the mood word."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "now"
        self.values: tuple[float, float] | None = None
        self.mood = ""

    def show(self, valence: float, arousal: float, mood: str) -> None:
        self.values, self.mood = (valence, arousal), mood
        self.refresh()

    def render(self) -> Text:
        background = self.background_colors[1]
        if self.values is None:
            return Text("waiting for the first 5 s window…", Style(color=self._muted, italic=True))
        lines = []
        for name, value, colour in zip(
            ("valence", "arousal"), self.values, (VALENCE_COLOUR, AROUSAL_COLOUR), strict=True
        ):
            line = Text(f"{value:4.2f}  ", Style(color=colour, bold=True), end="")
            fraction = (_clamp(value) - SCALE_MIN) / (SCALE_MAX - SCALE_MIN)
            line.append(bar(fraction, max(self._value_width - 6, 0), colour, background))
            lines.append(self.row(name, line))
        badge_style = Style(color=background.hex, bgcolor=colour_of(*self.values), bold=True)
        badge = Text(f" {self.mood} ", badge_style)
        lines.append(self.row("mood", badge))
        return Text("\n", end="").join(lines)


class SourcePanel(InfoPanel):
    """Where the audio comes from: a file's progress, or the microphone's level; errors."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "source"
        self.status: SourceStatus | None = None
        self.errors: list[str] = []

    def show(self, status: SourceStatus, errors: Sequence[str] = ()) -> None:
        """``errors``: everything that went wrong (the source's and inference's)."""
        self.status, self.errors = status, list(errors)
        self.refresh()

    def render(self) -> Text:
        status, background = self.status, self.background_colors[1]
        if status is None:
            return Text("starting…", Style(color=self._muted, italic=True))
        is_file = status.kind == "file"
        lines = [self.row("file" if is_file else "mic", Text(status.name, "bold"))]
        lines += (
            self._file_lines(status, background) if is_file else self._mic_lines(status, background)
        )
        if self.errors:
            lines += [Text(f"✖ {error}", Style(color=RED, bold=True)) for error in self.errors]
        elif status.note:
            lines.append(self.row("", Text(status.note, Style(color=self._muted, italic=True))))
        return Text("\n", end="").join(lines)

    def _file_lines(self, status: SourceStatus, background: Color) -> list[Text]:
        duration = status.duration_s
        fraction = status.position_s / duration if duration else 0.0
        colour = GREEN if status.finished else BLUE
        where = f"{format_time(status.position_s)} / {format_time(duration)}"
        if duration:
            where += f"  {min(fraction, 1.0):4.0%}"
        if status.finished:
            where += "  finished"
        return [
            self.row("", bar(fraction, self._value_width, colour, background)),
            self.row("", Text(where, Style(color=self._muted))),
        ]

    def _mic_lines(self, status: SourceStatus, background: Color) -> list[Text]:
        level = status.level_db
        if level <= LEVEL_FLOOR_DB:
            meter = Text("silent", Style(color=self._muted, italic=True))
        else:
            colour = level_colour(level)
            fraction = (level - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB
            meter = bar(fraction, max(self._value_width - 10, 0), colour, background)
            meter.append(f" {level:5.1f} dB", Style(color=colour))
        overflows = Text(str(status.overflows), RED if status.overflows else "")
        return [self.row("level", meter), self.row("overflows", overflows)]


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


class StatusBar(Widget):
    """Top line: app name, title, state badge (live, paused, finished, error), stream time."""

    DEFAULT_CSS = "StatusBar { dock: top; height: 1; background: $panel; }"
    BADGES = {
        "live": ("● live", GREEN),
        "paused": ("❚❚ paused", YELLOW),
        "finished": ("■ finished", BLUE),
        "error": ("✖ error", RED),
    }

    def __init__(self, heading: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.heading, self.state, self.time = heading, "live", 0.0

    def show(self, state: str, time: float) -> None:
        self.state, self.time = state, time
        self.refresh()

    def render(self) -> Text:
        background = self.background_colors[1]
        label, colour = self.BADGES[self.state]
        left = Text.assemble((" emotrack ", Style(bold=True, color=colour)), ("│ ", "dim"))
        left.append(self.heading)
        right = Text.assemble(
            (f" {label} ", Style(color=background.hex, bgcolor=colour, bold=True)),
            (f" {format_time(self.time)} ", Style(bold=True)),
        )
        room = self.size.width - right.cell_len
        left.truncate(max(room - 1, 0), overflow="ellipsis")
        return Text.assemble(left, " " * max(room - left.cell_len, 0), right)
