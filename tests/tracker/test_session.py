"""Tracker: windows every hop from the start, equal to offline windowing; drops (not
growing latency) when a live source outpaces the model; none for files read fast."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from emotrack.models.audio import frame_windows, load_audio, window_starts
from emotrack.models.errors import UserError
from emotrack.tracker.file_source import FileSource
from emotrack.tracker.headless import track_file
from emotrack.tracker.output import summarise
from emotrack.tracker.session import Tracker


class Slowed:
    """A real engine that takes ``delay`` seconds longer per call (a model too slow for
    the hop), or fails when ``fail`` is set."""

    def __init__(self, engine, delay: float = 0.0, fail: bool = False) -> None:
        self._engine, self.delay, self.fail, self.calls = engine, delay, fail, []

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        self.calls.append(len(windows))
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("out of memory")
        return self._engine.predict(windows)


def run_to_end(tracker: Tracker, timeout: float = 60) -> Tracker:
    tracker.start()
    try:
        assert tracker.wait(timeout), "tracker did not finish"
    finally:
        tracker.stop()
    return tracker


def test_fast_file_gives_every_hop_from_the_start_like_offline_windowing(onnx_engine, song):
    tracker = run_to_end(Tracker(FileSource(song, realtime=False), onnx_engine, 0.5))
    timeline = tracker.timeline
    assert [e.time for e in timeline] == pytest.approx(np.arange(5.0, 12.01, 0.5))
    audio = load_audio(song)
    starts = window_starts(len(audio), onnx_engine.audio, step_seconds=0.5)
    offline = onnx_engine.predict(frame_windows(audio, starts, onnx_engine.audio))
    raw = np.array([(e.raw_valence, e.raw_arousal) for e in timeline])
    np.testing.assert_allclose(raw, offline, atol=1e-4)  # block-wise = whole-file
    stats = tracker.stats()
    assert stats.windows == len(timeline) == 15 and stats.dropped == 0
    assert stats.realtime_factor > 1 and stats.audio_seconds == pytest.approx(12.0)
    assert stats.batch == onnx_engine.batch_size and stats.latency_p95_ms is not None
    assert tracker.finished and tracker.errors == []


def test_fast_file_never_drops_even_when_the_model_is_slow(torch_engine, song):
    slow = Slowed(torch_engine, delay=0.05)
    tracker = run_to_end(Tracker(FileSource(song, realtime=False), slow, 0.25, batch=4))
    assert tracker.stats().dropped == 0
    assert len(tracker.timeline) == (12 - 5) * 4 + 1
    assert max(slow.calls) == 4  # several hops per call


def test_live_source_drops_windows_instead_of_falling_behind(torch_engine, make_song):
    path = make_song("six.wav", 6.5)
    slow = Slowed(torch_engine, delay=0.35)
    tracker = run_to_end(Tracker(FileSource(path, realtime=True, play=False), slow, 0.1))
    stats, timeline = tracker.stats(), tracker.timeline
    assert stats.dropped > 3
    assert stats.windows + stats.dropped == 16  # every hop is processed or counted
    assert max(slow.calls) == 1
    times = np.array([e.time for e in timeline])
    assert np.all(np.diff(times) > 0) and times[-1] == pytest.approx(6.5)
    assert np.allclose(times * 10, np.round(times * 10))  # on the hop grid
    assert stats.latency_p95_ms < 1000  # bounded by one call, not growing with the backlog
    assert stats.realtime_factor == pytest.approx(1.0, abs=0.25)


def test_pause_stops_tracking_until_resumed(torch_engine, make_song):
    path = make_song("half-minute.wav", 30.0, rate=16_000, channels=1)
    tracker = Tracker(FileSource(path, realtime=False), Slowed(torch_engine, 0.02), 0.5, batch=4)
    tracker.start()
    try:
        while len(tracker.timeline) < 3:
            time.sleep(0.01)
        tracker.pause()
        settled = -1
        while settled != len(tracker.timeline):  # a call already in flight may finish
            settled = len(tracker.timeline)
            time.sleep(0.3)
        tracker.poll()
        time.sleep(0.5)
        assert tracker.poll() == [] and tracker.paused
        tracker.resume()
        assert tracker.wait(60)
    finally:
        tracker.stop()
    assert len(tracker.timeline) == (30 - 5) * 2 + 1
    assert tracker.stats().wall_seconds < tracker.stats().audio_seconds  # pause not counted


def test_smoothing_is_an_exponential_moving_average_of_the_raw_values(onnx_engine, song):
    tracker = run_to_end(Tracker(FileSource(song, realtime=False), onnx_engine, 0.5, 0.8))
    timeline = tracker.timeline
    assert timeline[0].valence == timeline[0].raw_valence
    for before, now in zip(timeline, timeline[1:], strict=False):
        assert now.valence == pytest.approx(0.8 * before.valence + 0.2 * now.raw_valence)
        assert now.arousal == pytest.approx(0.8 * before.arousal + 0.2 * now.raw_arousal)
    with pytest.raises(UserError, match="--smooth 1"):
        Tracker(FileSource(song), onnx_engine, smoothing=1.0)
    with pytest.raises(UserError, match="--step"):
        Tracker(FileSource(song), onnx_engine, step_seconds=0)


def test_a_file_whose_audio_ends_before_one_window_is_an_error(onnx_engine, make_song):
    path = make_song("cut.wav", 30.0, rate=16_000, channels=1, subtype="PCM_16")
    with open(path, "r+b") as handle:  # an interrupted download: the header says 30 s
        handle.truncate(44 + 2 * 16_000 * 2)
    result = track_file(path, onnx_engine)
    assert result.error and "cut.wav" in result.error and "at least 5 s" in result.error
    assert result.timeline == []


def test_inference_failure_is_reported_and_the_timeline_kept(onnx_engine, song):
    failing = Slowed(onnx_engine, fail=True)
    tracker = run_to_end(Tracker(FileSource(song, realtime=False), failing, 0.5))
    assert tracker.finished and tracker.timeline == []
    assert any("inference failed: RuntimeError: out of memory" in e for e in tracker.errors)


def test_stopping_early_keeps_what_was_tracked(torch_engine, make_song):
    path = make_song("long.wav", 60.0, rate=16_000, channels=1)
    tracker = Tracker(FileSource(path, realtime=False), Slowed(torch_engine, 0.02), 0.5)
    tracker.start()
    while len(tracker.timeline) < 2:
        time.sleep(0.01)
    tracker.stop()
    kept = tracker.timeline
    assert len(kept) >= 2 and not tracker.finished
    assert tracker.source_status().position_s < 60


@pytest.mark.parametrize(
    ("kind", "flag"),
    [
        ("silence", "silent"),
        ("hiss", "near-silent"),
        ("nan", "non-finite"),
        ("inf", "non-finite"),
    ],
)
def test_audio_that_is_not_music_is_flagged_and_gets_no_mood(onnx_engine, tmp_path, kind, flag):
    rng = np.random.default_rng(0)
    data = {
        "silence": np.zeros(16_000 * 7),
        "hiss": rng.normal(0, 10 ** (-60 / 20), 16_000 * 7),
        "nan": np.full(16_000 * 7, np.nan),
        "inf": np.where(np.arange(16_000 * 7) % 2, np.inf, -np.inf),
    }[kind]
    sf.write(tmp_path / "x.wav", data.astype(np.float32), 16_000, subtype="FLOAT")
    result = track_file(tmp_path / "x.wav", onnx_engine)
    values = np.array([(e.raw_valence, e.raw_arousal) for e in result.timeline])
    assert len(values) == 5 and np.isfinite(values).all()  # the model still ran, finitely
    assert all(e.flags == (flag,) and not e.music for e in result.timeline)
    summary = summarise(result.timeline)
    assert summary.music_windows == 0 and summary.flags[flag] == 5
    assert summary.mood == "no music" and summary.valence_mean is None
    assert result.error.endswith(f"no music: every window is {flag} (5 of 5); nothing to track")


def test_clipped_music_is_flagged_but_still_music(onnx_engine, tmp_path):
    t = np.arange(16_000 * 11) / 16_000
    loud = np.clip(3.0 * np.sin(2 * np.pi * 220 * t) * (t > 6.0), -1.0, 1.0)  # clips from 6 s
    quiet = 0.3 * np.sin(2 * np.pi * 220 * t) * (t <= 6.0)
    sf.write(tmp_path / "clipped.wav", (loud + quiet).astype(np.float32), 16_000)
    result = track_file(tmp_path / "clipped.wav", onnx_engine)
    flags = [e.flags for e in result.timeline]
    assert flags[0] == () and flags[-1] == ("clipped",)
    assert result.error is None and summarise(result.timeline).music_windows == len(flags)
    assert summarise(result.timeline).flags["clipped"] >= 4


def test_narrow_band_audio_gets_a_bandwidth_warning(onnx_engine, make_song, tmp_path):
    narrow = track_file(make_song("8k.wav", 8.0, rate=8_000), onnx_engine)  # an 8 kHz file
    assert any("low bandwidth" in w and "4.0 kHz" in w for w in narrow.warnings)
    tone = track_file(make_song("tone.wav", 8.0, rate=44_100), onnx_engine)  # 330 Hz, no more
    assert any("low bandwidth" in w for w in tone.warnings)
    noise = np.random.default_rng(0).normal(0, 0.1, (44_100 * 8, 2)).astype(np.float32)
    sf.write(tmp_path / "wide.wav", noise, 44_100)  # white noise: every frequency
    wide = track_file(tmp_path / "wide.wav", onnx_engine)
    assert not any("low bandwidth" in w for w in wide.warnings)
