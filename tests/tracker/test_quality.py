"""Window flags over a whole song equal the tracker's flags of each window read alone."""

from __future__ import annotations

import numpy as np

from emotrack.models.audio import MEL_IMAGE, SAMPLE_RATE, window_starts
from emotrack.tracker.quality import flags_of_windows, window_flags


def _song_of_every_kind() -> np.ndarray:
    """Music, then silence, a near-silent fade, clipped (flat-topped) music, and music again."""
    rng = np.random.default_rng(0)
    t = np.arange(8 * SAMPLE_RATE) / SAMPLE_RATE
    music = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))).astype(
        np.float32
    )
    silence = np.zeros(7 * SAMPLE_RATE, np.float32)
    near_silent = (1e-3 * rng.standard_normal(7 * SAMPLE_RATE)).astype(np.float32)
    clipped = np.clip(6.0 * music, -1.0, 1.0)
    return np.concatenate([music, silence, near_silent, clipped, music])


def test_flags_over_the_song_are_each_windows_own_flags():
    samples = _song_of_every_kind()
    width = MEL_IMAGE.window_samples
    for step in (0.5, 0.25, 2.5):
        starts = window_starts(len(samples), MEL_IMAGE, step_seconds=step)
        expected = [window_flags(samples[s : s + width]) for s in starts.tolist()]
        assert flags_of_windows(samples, starts, width) == expected
    kinds = {flags for flags in expected}
    assert kinds == {(), ("silent",), ("near-silent",), ("clipped",)}  # every kind was tested


def test_no_windows_no_flags():
    assert flags_of_windows(np.zeros(10, np.float32), np.zeros(0, np.int64), 4) == []
