"""A scanned library in the terminal: every song's mean on the valence-arousal plane, the
songs in a table, and the selected song's path across the plane and its two timelines.

Keys: up/down (or the mouse) select a song, ``q`` quits. The app reads the database only.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer

from emotrack.library.store import Song, Store
from emotrack.models.audio import WINDOW_SECONDS
from emotrack.tracker.widgets.drawing import AROUSAL_COLOUR, VALENCE_COLOUR
from emotrack.tracker.widgets.plane import VAPlane
from emotrack.tracker.widgets.timeline import TimelineChart

COLUMNS = ("mood", "valence", "arousal", "length", "song")


class LibraryApp(App[None]):
    """Browse ``songs`` (from ``store``): the table drives the plane and the timelines."""

    TITLE = "emotrack library"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #main { height: 1fr; }
    DataTable { width: 1fr; min-width: 40; }
    VAPlane { width: 1fr; min-width: 30; }
    #timelines {
        height: 35%; min-height: 6; max-height: 18;
        border: round $primary 60%; border-title-color: $text; padding: 0 1;
    }
    """
    BINDINGS = [Binding("q", "quit", "quit")]

    def __init__(self, store: Store, songs: list[Song]) -> None:
        super().__init__()
        self.store, self.songs = store, songs
        self.means = [(song.valence, song.arousal) for song in songs]
        self.selected: Song | None = None
        self.table = DataTable(cursor_type="row", zebra_stripes=True)
        self.plane = VAPlane()
        self.valence = TimelineChart(VALENCE_COLOUR, WINDOW_SECONDS)
        self.arousal = TimelineChart(AROUSAL_COLOUR, WINDOW_SECONDS)

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield self.table
            yield self.plane
        with Vertical(id="timelines") as timelines:
            timelines.border_title = "valence, then arousal, over the song"
            yield self.valence
            yield self.arousal
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{len(self.songs)} songs in {self.store.path}"
        self.table.add_columns(*COLUMNS)
        for song in self.songs:
            minutes, seconds = divmod(round(song.duration), 60)
            self.table.add_row(
                song.mood,
                f"{song.valence:.2f}",
                f"{song.arousal:.2f}",
                f"{minutes}:{seconds:02d}",
                Path(song.path).name,
                key=song.path,
            )
        self.table.focus()  # the table highlights its first row: that selects the first song

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.select(self.songs[event.cursor_row])

    def select(self, song: Song) -> None:
        """Show ``song``: its windows' path over every song's dot, and its timelines."""
        self.selected = song
        times, values = self.store.timeline(song.path)
        points = [(float(v), float(a)) for v, a in values]
        self.plane.border_subtitle = f"{Path(song.path).name}: {song.mood}"
        self.plane.show(points, self.means)
        end = float(times[-1]) if len(times) else WINDOW_SECONDS
        for chart, column in ((self.valence, 0), (self.arousal, 1)):
            chart.span = max(end, WINDOW_SECONDS)
            chart.show(list(zip(times.tolist(), values[:, column].tolist(), strict=True)), end)
