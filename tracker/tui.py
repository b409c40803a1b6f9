"""The live tracker's terminal UI: a Textual app around a running :class:`Tracker`.

The app never runs inference itself: the tracker works in its own threads, and the app
polls it ten times a second for new estimates, the source's state and the statistics.
Keys: space pauses/resumes, ``s`` saves the timeline (CSV, and a PNG plot where matplotlib is
installed), ``q`` quits.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import time
from bisect import bisect_left
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Footer

from emotrack.models.audio import AUDIO_EXTENSIONS
from emotrack.tracker.output import window_mood, write_timeline_csv
from emotrack.tracker.session import Estimate, Tracker
from emotrack.tracker.widgets.drawing import AROUSAL_COLOUR, VALENCE_COLOUR
from emotrack.tracker.widgets.now_panel import NowPanel
from emotrack.tracker.widgets.plane import VAPlane
from emotrack.tracker.widgets.source_panel import SourcePanel
from emotrack.tracker.widgets.stats_panel import StatsPanel
from emotrack.tracker.widgets.status_bar import StatusBar
from emotrack.tracker.widgets.timeline import TimelineChart

POLL_SECONDS = 0.1  # how often the UI asks the tracker for news
TRAIL_SECONDS = 20.0  # how much history the plane's trail shows
TIMELINE_SECONDS = 60.0  # how much history the timelines show
DIMENSIONS = (("valence", VALENCE_COLOUR), ("arousal", AROUSAL_COLOUR))


class EmotionApp(App[None]):
    """Live valence/arousal of a running tracker. ``exit_on_finish`` quits when a file ends
    (batch use and tests); otherwise the app shows "finished" and waits for ``q``."""

    TITLE = "emotrack"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #main { height: 1fr; }
    VAPlane { width: 1fr; min-width: 30; }
    #side { width: 46; }
    NowPanel { height: 5; }
    SourcePanel { height: 1fr; min-height: 4; }
    StatsPanel { height: 6; }
    #timelines {
        height: 30%; min-height: 6; max-height: 18;
        border: round $primary 60%; border-title-color: $text; padding: 0 1;
    }
    #timelines > Horizontal { height: 1fr; }
    .gutter { width: 9; }
    """
    BINDINGS = [
        Binding("space", "toggle_pause", "pause/resume"),
        Binding("s", "save", "save timeline"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(
        self, tracker: Tracker, title: str, save_dir: Path, exit_on_finish: bool = False
    ) -> None:
        super().__init__()
        self.tracker, self.save_dir, self.exit_on_finish = tracker, Path(save_dir), exit_on_finish
        self.sub_title = title
        self.estimates: list[Estimate] = []
        self.finished = False
        self.polls = 0  # how often the tracker was polled (stops when the audio has ended)
        self._shown_errors: set[str] = set()
        self._save_lock = threading.Lock()  # two quick presses of s: one save after the other

    def compose(self) -> ComposeResult:
        # widgets are kept as attributes: a poll during shutdown must not need a query
        self.status_bar, self.plane = StatusBar(self.sub_title), VAPlane()
        self.now, self.source, self.performance = NowPanel(), SourcePanel(), StatsPanel()
        self.gutters = {name: _Gutter(name, colour) for name, colour in DIMENSIONS}
        self.charts = {name: TimelineChart(colour, TIMELINE_SECONDS) for name, colour in DIMENSIONS}
        yield self.status_bar
        with Horizontal(id="main"):
            yield self.plane
            with Vertical(id="side"):
                yield self.now
                yield self.source
                yield self.performance
        with Vertical(id="timelines") as timelines:
            timelines.border_title = f"last {TIMELINE_SECONDS:.0f} s"
            for name, _ in DIMENSIONS:
                with Horizontal():
                    yield self.gutters[name]
                    yield self.charts[name]
        yield Footer()

    def on_mount(self) -> None:
        self.tracker.start()  # no-op when run_tui started it
        self._poller = self.set_interval(POLL_SECONDS, self.poll_tracker)

    def on_unmount(self) -> None:
        self.tracker.stop()

    # ------------------------------------------------------------------------ polling

    def poll_tracker(self) -> None:
        """Fetch what is new from the tracker and update every widget (never blocks). Once the
        audio has ended and the last of it is shown, polling stops: the app idles (no redraw)
        until a key is pressed."""
        self.polls += 1
        finished = self.tracker.finished  # read first: the poll then holds every estimate
        new = self.tracker.poll()
        if new:
            self.estimates.extend(new)
            self._show_estimates()
        status, errors = self.tracker.source_status(), self.tracker.errors
        self.source.show(status, errors)
        self.performance.show(self.tracker.stats())
        for error in errors:
            if error not in self._shown_errors:
                self._shown_errors.add(error)
                self.notify(error, title="error", severity="error", timeout=10)
        if finished and not self.finished:
            self.finished = True
            if self.exit_on_finish:
                self.exit()
            elif not errors:
                self.notify("s saves the timeline, q quits", title="finished")
            self._poller.stop()  # nothing more will come: idle until a key
        self._show_state()

    def _show_state(self) -> None:
        """The status bar's badge and the plane's subtitle: live, paused, finished or error."""
        if self.tracker.errors:
            state = "error"
        elif self.finished:
            state = "finished"
        else:
            state = "paused" if self.tracker.paused else "live"
        self.status_bar.show(state, self.tracker.source_status().position_s)
        self.plane.border_subtitle = "" if state == "live" else StatusBar.BADGES[state][0]
        self.plane.set_class(state == "paused", "-paused")

    def _show_estimates(self) -> None:
        latest = self.estimates[-1]
        times = [e.time for e in self.estimates]
        trail = self.estimates[bisect_left(times, latest.time - TRAIL_SECONDS) :]
        self.plane.show([(e.valence, e.arousal) for e in trail])
        recent = self.estimates[max(bisect_left(times, latest.time - TIMELINE_SECONDS) - 1, 0) :]
        for name, _ in DIMENSIONS:
            self.charts[name].show([(e.time, getattr(e, name)) for e in recent], latest.time)
            self.gutters[name].show(getattr(latest, name))
        self.now.show(latest.valence, latest.arousal, window_mood(latest))

    # ------------------------------------------------------------------------ actions

    def action_toggle_pause(self) -> None:
        if self.finished:
            self.notify("the audio has ended: s saves the timeline, q quits", severity="warning")
            return
        if self.tracker.paused:
            self.tracker.resume()
        else:
            self.tracker.pause()
        self._show_state()

    def action_save(self) -> None:
        estimates = list(self.tracker.timeline)
        if not estimates:
            self.notify("nothing to save yet: no window has been analysed", severity="warning")
            return
        self.run_worker(lambda: self._save(estimates), thread=True, group="save")

    def _save(self, estimates: list[Estimate]) -> None:
        """Runs in a worker thread: writing the plot takes a moment."""
        try:
            with self._save_lock:
                self.save_dir.mkdir(parents=True, exist_ok=True)
                stamp = time.strftime("%Y%m%d-%H%M%S")
                stem = _free_stem(self.save_dir, f"{_slug(self.sub_title)}-{stamp}")
                csv_path = self.save_dir / f"{stem}.csv"
                png_path = self.save_dir / f"{stem}.png"
                write_timeline_csv(estimates, csv_path, name=self.sub_title)
                saved = [csv_path]
                if have_matplotlib():
                    from emotrack.tracker.plot import plot_timeline

                    saved.append(plot_timeline(estimates, png_path, title=self.sub_title))
        except OSError as exc:
            self.notify(f"could not save into {self.save_dir}: {exc}", severity="error", timeout=10)
            return
        note = "" if len(saved) == 2 else "\n(with matplotlib installed, a PNG plot too)"
        self.notify(
            "\n".join(map(str, saved)) + note, title=f"saved {len(estimates)} windows", timeout=8
        )


class _Gutter(Widget):
    """The timeline's label: dimension name and its current value."""

    def __init__(self, dimension: str, colour: str) -> None:
        super().__init__(classes="gutter")
        self.dimension, self.colour = dimension, colour
        self.value: float | None = None

    def show(self, value: float) -> None:
        self.value = value
        self.refresh()

    def render(self) -> str:
        value = "–" if self.value is None else f"{self.value:.2f}"
        return f"[bold {self.colour}]{self.dimension}[/]\n[b]{value}[/]"


def have_matplotlib() -> bool:
    """The PNG plot needs matplotlib (the ``train`` extra); the CSV is always written."""
    return importlib.util.find_spec("matplotlib") is not None


def _slug(title: str) -> str:
    """A file-name-safe version of the title (without the extension when it names a file)."""
    if Path(title).suffix.lower() in AUDIO_EXTENSIONS:
        title = Path(title).stem
    return re.sub(r"[^A-Za-z0-9_-]+", "-", title).strip("-") or "emotrack"


def _free_stem(folder: Path, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... if a save with that name already exists."""
    candidate, n = stem, 1
    while any((folder / f"{candidate}{ext}").exists() for ext in (".csv", ".png")):
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def run_tui(tracker: Tracker, title: str, save_dir: Path, exit_on_finish: bool = False) -> None:
    """Start the tracker, then show the UI until the user quits (or, with ``exit_on_finish``,
    until the file ends); the app stops the tracker as it closes. A source that cannot start
    (a refused microphone) raises its UserError from ``tracker.start()``, before the screen is
    taken over."""
    tracker.start()
    EmotionApp(tracker, title, save_dir, exit_on_finish=exit_on_finish).run()
