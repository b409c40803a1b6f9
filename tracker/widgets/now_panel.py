"""The panel of the latest valence and arousal and the mood word."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from emotrack.models.scale import SCALE_MAX, SCALE_MIN
from emotrack.tracker.widgets.drawing import AROUSAL_COLOUR, VALENCE_COLOUR, bar, clamp, colour_of
from emotrack.tracker.widgets.info_panel import InfoPanel


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
            fraction = (clamp(value) - SCALE_MIN) / (SCALE_MAX - SCALE_MIN)
            line.append(bar(fraction, max(self._value_width - 6, 0), colour, background))
            lines.append(self.row(name, line))
        badge_style = Style(color=background.hex, bgcolor=colour_of(*self.values), bold=True)
        badge = Text(f" {self.mood} ", badge_style)
        lines.append(self.row("mood", badge))
        return Text("\n", end="").join(lines)
