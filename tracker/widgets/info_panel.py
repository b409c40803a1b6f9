"""The base of the tracker UI's info panels: a bordered panel of (label, value) lines."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from emotrack.tracker.widgets.drawing import GREY, blend


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
