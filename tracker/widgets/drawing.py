"""The tracker UI's palette and the drawing helpers its widgets share: quadrant colours,
blending towards the background, where a 1..9 value falls, a half-cell bar and a clock time."""

from __future__ import annotations

import math

from rich.style import Style
from rich.text import Text
from textual.color import Color

from emotrack.models.scale import MIDDLE, QUADRANTS, SCALE_MAX, SCALE_MIN, quadrant

RED, YELLOW, BLUE, GREEN = "#ef6f6c", "#f2c14e", "#5fa8e8", "#7bc47f"
PINK, GREY = "#e07be0", "#c0c0c0"
QUADRANT_COLOURS = dict(zip(QUADRANTS, (YELLOW, RED, BLUE, GREEN), strict=True))  # Q1..Q4
VALENCE_COLOUR, AROUSAL_COLOUR = YELLOW, PINK
AXIS_FADE = 0.72  # how far axes are blended into the background (ticks half as far)


def colour_of(valence: float, arousal: float) -> str:
    """The colour of the quadrant a point lies in."""
    return QUADRANT_COLOURS[quadrant(valence, arousal)]


def blend(colour: str, background: Color, amount: float) -> str:
    """``colour`` moved ``amount`` (0..1) of the way towards ``background``, as hex."""
    return Color.parse(colour).blend(background, amount).hex


def clamp(value: float) -> float:
    """The value within 1..9; the middle when it is not finite."""
    if not math.isfinite(value):
        return MIDDLE
    return min(max(value, SCALE_MIN), SCALE_MAX)


def position(value: float, size: int) -> int:
    """1..9 -> 0..size-1 (dot or cell coordinate)."""
    return round((clamp(value) - SCALE_MIN) / (SCALE_MAX - SCALE_MIN) * (size - 1))


def bar(fraction: float, width: int, colour: str, background: Color) -> Text:
    """A horizontal bar, ``fraction`` (0..1) of it filled, in half-cell steps."""
    halves = round(min(max(fraction, 0.0), 1.0) * width * 2)
    full, half = divmod(halves, 2)
    text = Text(no_wrap=True, end="")
    text.append("━" * full, Style(color=colour))
    text.append("╸" * half, Style(color=colour))
    text.append("━" * (width - full - half), Style(color=blend(GREY, background, 0.8)))
    return text


def format_time(seconds: float | None) -> str:
    """``m:ss``; ``--:--`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    minutes, secs = divmod(int(max(seconds, 0.0)), 60)
    return f"{minutes}:{secs:02d}"
