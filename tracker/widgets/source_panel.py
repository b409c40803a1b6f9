"""The panel of where the audio comes from: a file's progress or the microphone's level."""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.color import Color

from emotrack.tracker.sources import SourceStatus
from emotrack.tracker.widgets.drawing import BLUE, GREEN, RED, YELLOW, bar, format_time
from emotrack.tracker.widgets.info_panel import InfoPanel

LEVEL_FLOOR_DB = -60.0  # the level meter's left end


def level_colour(db: float) -> str:
    """Green while the signal is comfortable, yellow when loud, red near clipping."""
    if db >= -3.0:
        return RED
    if db >= -12.0:
        return YELLOW
    return GREEN


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
