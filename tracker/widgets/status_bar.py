"""The tracker UI's top line: app name, title, state badge and stream time."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from emotrack.tracker.widgets.drawing import BLUE, GREEN, RED, YELLOW, format_time


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
