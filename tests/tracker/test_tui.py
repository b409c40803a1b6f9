"""The live UI, driven through Textual's Pilot.

Behaviour tests run a real Tracker (fixtures from conftest.py): a FileSource on a generated
WAV or a MicSource on a private PulseAudio server, and an Engine with a small CNN checkpoint.
Snapshot tests need identical screens every run, so they replay a recorded timeline
(``RecordedTimelineReplay``) instead of running a model.
"""

from __future__ import annotations

import asyncio
import csv
import math
import time
from pathlib import Path

import pytest
from matplotlib.image import imread

from emotrack.models.scale import mood
from emotrack.tracker.file_source import FileSource
from emotrack.tracker.mic_source import MicSource
from emotrack.tracker.output import TIMELINE_FIELDS
from emotrack.tracker.session import Estimate, Tracker, TrackerStats
from emotrack.tracker.sources import SourceStatus
from emotrack.tracker.tui import TRAIL_SECONDS, EmotionApp
from emotrack.tracker.widgets.now_panel import NowPanel
from emotrack.tracker.widgets.plane import VAPlane, render_plane
from emotrack.tracker.widgets.source_panel import SourcePanel
from emotrack.tracker.widgets.status_bar import StatusBar
from emotrack.tracker.widgets.timeline import render_timeline

SIZE = (100, 30)


# ---------------------------------------------------------------------------- fixtures


def run(coroutine) -> None:
    """Run an async Pilot test from a sync test (no async pytest plugin needed)."""
    asyncio.run(asyncio.wait_for(coroutine, timeout=60))


async def wait_until(pilot, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the app did not reach the expected state in time")
        await pilot.pause(0.05)


def screen_text(app: EmotionApp) -> str:
    """Everything on screen as plain text (what a user reads; Textual has no public call)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def messages(app: EmotionApp) -> list[str]:
    """The notifications shown so far, oldest first."""
    return [notification.message for notification in app._notifications]


# ---------------------------------------------------------------------------- a real tracker


def test_file_run_shows_estimates_finishes_saves_and_quits(torch_engine, song, tmp_path):
    tracker = Tracker(FileSource(song, realtime=False, play=False), torch_engine)
    app = EmotionApp(tracker, "song.wav", tmp_path / "saves")

    async def scenario():
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_until(pilot, lambda: app.finished)
            await pilot.pause(0.2)  # one more poll: the screen shows the last estimate
            timeline = tracker.timeline
            assert len(timeline) == 15  # windows end at 5, 5.5, ... 12 s
            latest = timeline[-1]
            plane = app.query_one(VAPlane)
            assert plane.points[-1] == (latest.valence, latest.arousal)
            assert len(plane.points) == sum(e.time >= latest.time - TRAIL_SECONDS for e in timeline)
            chart = app.charts["arousal"]
            assert chart.samples[-1] == (latest.time, latest.arousal)
            now = app.query_one(NowPanel)
            assert now.values == (latest.valence, latest.arousal)
            assert now.mood == mood(latest.valence, latest.arousal)
            assert app.query_one(StatusBar).state == "finished"
            text = screen_text(app)
            assert "■ finished" in text and f"{latest.valence:4.2f}" in text
            assert "0:12 / 0:12" in text  # the file's progress
            assert app.is_running  # a finished file waits for the user
            polls = app.polls
            await pilot.pause(0.5)
            assert app.polls == polls  # ...idle: no polling, no redraw until a key

            await pilot.press("s")
            await app.workers.wait_for_complete()
            saved = sorted((tmp_path / "saves").iterdir())
            assert [p.suffix for p in saved] == [".csv", ".png"]
            assert saved[0].stem == saved[1].stem and saved[0].stem.startswith("song-")
            with saved[0].open() as handle:
                rows = list(csv.DictReader(handle))
            assert list(rows[0]) == list(TIMELINE_FIELDS)
            assert [float(r["time"]) for r in rows] == [e.time for e in timeline]
            assert float(rows[-1]["valence"]) == pytest.approx(latest.valence, abs=1e-4)
            image = imread(saved[1])
            assert image.shape[0] > 100 and image.shape[1] > 100

            await pilot.press("s")  # a second save in the same second keeps the first
            await app.workers.wait_for_complete()
            assert len(list((tmp_path / "saves").iterdir())) == 4

            app.save_dir = tmp_path / "song.csv"  # a file where the folder should be
            app.save_dir.write_text("not a folder")
            await pilot.press("s")
            await app.workers.wait_for_complete()
            assert "could not save into" in messages(app)[-1]  # said, not a traceback
            assert app.is_running

            await pilot.press("q")
            await pilot.pause()
        assert not app.is_running

    run(scenario())


def test_space_pauses_and_resumes_and_q_stops_the_tracker(torch_engine, song, tmp_path):
    """A file paced in real time (without playback: by the clock), as a user watches it."""
    tracker = Tracker(FileSource(song, realtime=True, play=False), torch_engine)
    app = EmotionApp(tracker, "song.wav", tmp_path)

    def position() -> float:
        return tracker.source_status().position_s

    async def scenario():
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_until(pilot, lambda: position() > 0.3)
            await pilot.press("s")  # before the first window is complete: nothing to save
            assert "nothing to save yet" in messages(app)[-1]
            assert not list(tmp_path.iterdir())
            await pilot.press("space")
            assert tracker.paused
            await pilot.pause(0.3)  # the block being read when paused still arrives
            held = position()
            await pilot.pause(0.5)
            assert position() == held  # no audio is consumed while paused
            assert app.query_one(StatusBar).state == "paused"
            assert "❚❚ paused" in screen_text(app)
            assert app.query_one(VAPlane).has_class("-paused")

            await pilot.press("space")
            assert not tracker.paused
            await wait_until(pilot, lambda: position() > held + 0.2)
            await pilot.pause(0.15)
            assert app.query_one(StatusBar).state == "live"
            assert "● live" in screen_text(app)

            await pilot.press("q")
            await pilot.pause()
        assert not app.is_running
        stopped_at = position()
        await asyncio.sleep(0.3)
        assert position() == stopped_at  # the tracker was stopped, not left running

    run(scenario())


def test_exit_on_finish_quits_by_itself(torch_engine, song, tmp_path):
    tracker = Tracker(FileSource(song, realtime=False, play=False), torch_engine)
    app = EmotionApp(tracker, "song.wav", tmp_path, exit_on_finish=True)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: not app.is_running)
        assert tracker.finished and len(tracker.timeline) == 15

    run(scenario())


def test_unplugged_microphone_shows_the_error_and_keeps_what_was_tracked(
    torch_engine, fresh_pulse, tmp_path
):
    source = MicSource()  # the default input: the PulseAudio server's sine "microphone"
    tracker = Tracker(source, torch_engine)
    app = EmotionApp(tracker, f"microphone: {source.name}", tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_until(pilot, lambda: len(app.query_one(VAPlane).points) >= 2)
            assert app.query_one(StatusBar).state == "live"
            assert " dB" in screen_text(app)  # the level meter
            fresh_pulse.stop()  # the microphone goes away mid-stream
            await wait_until(pilot, lambda: app.query_one(StatusBar).state == "error")
            error = tracker.errors[0]
            assert app.query_one(SourcePanel).errors == tracker.errors
            text = screen_text(app)
            assert "✖ error" in text and f"✖ {error[:30]}" in text
            assert messages(app) == [error]  # shown once

            await pilot.press("s")  # what was tracked before the error can still be saved
            await app.workers.wait_for_complete()
            saved = sorted(tmp_path.glob("microphone-*.csv"))
            assert len(saved) == 1
            with saved[0].open() as handle:
                assert len(list(csv.DictReader(handle))) == len(tracker.timeline) >= 2
            await pilot.press("q")
            await pilot.pause()
        assert not app.is_running

    run(scenario())


# ---------------------------------------------------------------------------- recorded replays


class RecordedTimelineReplay:
    """Replays a recorded timeline through the tracker interface the app uses. For snapshot
    tests only: a screenshot needs the same estimates, statistics and source state each run,
    which a live model and clock cannot give."""

    def __init__(
        self,
        estimates: list[Estimate],
        status: SourceStatus,
        stats: TrackerStats,
        errors: tuple[str, ...] = (),
    ) -> None:
        self._estimates, self._status, self._stats = estimates, status, stats
        self.errors = list(errors)
        self._polled = 0
        self.paused = False
        self.finished = False
        self.stopped = False

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.stopped = True

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def poll(self) -> list[Estimate]:
        new, self._polled = self._estimates[self._polled :], len(self._estimates)
        return new

    @property
    def timeline(self) -> list[Estimate]:
        return self._estimates[: self._polled]

    def stats(self) -> TrackerStats:
        return self._stats

    def source_status(self) -> SourceStatus:
        return self._status


def recorded_timeline(seconds: float) -> list[Estimate]:
    """A song circling the plane once every 40 s (values rounded as in a CSV)."""
    estimates = []
    for i in range(int((seconds - 5.0) / 0.5) + 1):
        t = 5.0 + 0.5 * i
        angle = 2 * math.pi * t / 40.0
        valence = round(5.0 + 2.8 * math.cos(angle) + 0.3 * math.sin(1.7 * t), 2)
        arousal = round(5.0 + 2.6 * math.sin(angle) + 0.25 * math.cos(2.3 * t), 2)
        raw = (round(valence + 0.4 * math.sin(5 * t), 2), round(arousal - 0.4 * math.cos(3 * t), 2))
        estimates.append(Estimate(t, valence, arousal, *raw, latency_ms=14.0))
    return estimates


def stats(windows: int) -> TrackerStats:
    return TrackerStats(
        windows=windows,
        dropped=0,
        latency_p50_ms=13.6,
        latency_p95_ms=21.9,
        realtime_factor=1.0,
        audio_seconds=windows * 0.5,
        wall_seconds=windows * 0.5,
        inference_seconds=windows * 0.014,
        device="cpu (2 threads)",
        backend="torch",
        batch=1,
    )


def file_replay() -> RecordedTimelineReplay:
    estimates = recorded_timeline(38.0)
    status = SourceStatus(
        kind="file",
        name="2.mp3",
        position_s=38.0,
        duration_s=45.0,
        level_db=-17.2,
        overflows=0,
        error=None,
        finished=False,
        paused=False,
        note="paced by the clock",
    )
    return RecordedTimelineReplay(estimates, status, stats(len(estimates)))


UNPLUGGED = (
    "microphone USB Audio (device 3) stopped delivering audio (unplugged, or taken by "
    "another program?); what was tracked so far is kept"
)


def unplugged_mic_replay() -> RecordedTimelineReplay:
    estimates = recorded_timeline(95.0)
    status = SourceStatus(
        kind="microphone",
        name="USB Audio (device 3)",
        position_s=95.3,
        duration_s=None,
        level_db=-120.0,
        overflows=2,
        error=UNPLUGGED,
        finished=True,
        paused=False,
        note="48000 Hz",
    )
    replay = RecordedTimelineReplay(estimates, status, stats(len(estimates)), errors=(UNPLUGGED,))
    replay.finished = True
    return replay


@pytest.fixture
def snapshot(request):
    """pytest-textual-snapshot's ``snap_compare`` (skipped where the plugin is missing)."""
    pytest.importorskip("pytest_textual_snapshot")
    return request.getfixturevalue("snap_compare")


def test_snapshot_file_100x30(snapshot):
    app = EmotionApp(file_replay(), "2.mp3", Path("unused"))
    assert snapshot(app, terminal_size=SIZE, run_before=_first_poll)


def test_snapshot_unplugged_microphone_100x30(snapshot):
    app = EmotionApp(unplugged_mic_replay(), "microphone: USB Audio (device 3)", Path("unused"))
    assert snapshot(app, terminal_size=SIZE, run_before=_first_poll)


async def _first_poll(pilot) -> None:
    """Show the whole recorded timeline now, not at the first timer tick."""
    pilot.app.poll_tracker()
    await pilot.pause()


# ---------------------------------------------------------------------------- chart drawing


def test_plane_puts_points_in_the_right_quadrant():
    from textual.color import Color

    black = Color(0, 0, 0)
    lines = render_plane([(7.5, 7.0)], 40, 12, black).plain.splitlines()
    assert len(lines) == 12 and all(len(line) == 40 for line in lines)
    row = next(i for i, line in enumerate(lines) if "●" in line)
    assert row < 6 and lines[row].index("●") > 20  # happy/excited: top right
    assert "tense/angry" in lines[0] and "happy/excited" in lines[0]
    assert "sad/depressed" in lines[-1] and "calm/relaxed" in lines[-1]
    low = render_plane([(1.0, 1.0)], 40, 12, black).plain.splitlines()
    assert low[-1][0] == "●"  # the corner (1, 1) is the bottom-left cell
    narrow = render_plane([], 20, 6, black).plain.splitlines()
    assert "tense" in narrow[0] and "happy" in narrow[0]  # labels shortened, not cut off


def test_plane_draws_a_librarys_songs_as_dots_where_they_lie():
    from textual.color import Color

    black = Color(0, 0, 0)
    blank = render_plane([], 40, 12, black).plain.splitlines()
    dotted = render_plane([], 40, 12, black, dots=[(2.0, 2.0), (8.0, 8.0)]).plain.splitlines()
    changed = [
        (row, col)
        for row, (a, b) in enumerate(zip(blank, dotted, strict=True))
        for col, (x, y) in enumerate(zip(a, b, strict=True))
        if x != y
    ]
    assert len(changed) == 2 and all("\u2800" < dotted[r][c] <= "\u28ff" for r, c in changed)
    (top, right), (bottom, left) = sorted(changed)
    assert top < 6 < bottom and left < 20 < right  # (8, 8) top right, (2, 2) bottom left


def test_timeline_fills_to_the_value_and_scrolls():
    from textual.color import Color

    black = Color(0, 0, 0)
    samples = [(float(t), 9.0 if t >= 50 else 1.0) for t in range(0, 61)]
    lines = render_timeline(samples, 60.0, 60.0, 23, 4, "#ffffff", black).plain.splitlines()
    assert [line[:3] for line in lines] == ["9┤ ", " │ ", "5┤ ", "1┤ "]
    plot = [line[3:] for line in lines]
    assert plot[0][-1] == "█" and plot[0][0] != "█"  # the end is high, the start is not
    assert all(line[-1] == "█" for line in plot)
    assert plot[-1][0] == "▁"  # the lowest value still shows one eighth
    later = render_timeline(samples, 120.0, 60.0, 23, 4, "#ffffff", black).plain.splitlines()
    assert later[0][4:].strip() == ""  # 60 s later the old values have scrolled away
