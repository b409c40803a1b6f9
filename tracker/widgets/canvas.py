"""A braille canvas: a grid of character cells with a base text layer, braille dots (2 x 4 per
cell) and marks on top, rendered as Rich text."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

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
