"""Windows from many songs in batches of one size: what keeps the model busy.

A song's 5 s windows (one every hop) are cut from its 16 kHz samples only when its batch is
about to run, straight into the batch buffer, and its samples are let go as soon as its last
window has its values. Shared by the local pipeline and the Ray actors.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import numpy as np

from emotrack.library.decode import Decoded
from emotrack.models.audio import MEL_IMAGE, frame_windows, window_starts
from emotrack.tracker.quality import window_flags

WINDOW_SAMPLES = MEL_IMAGE.window_samples  # every model's window: 5 s at 16 kHz


class SongWindows:
    """A decoded song on its way through the model; its values are filled batch by batch."""

    def __init__(self, decoded: Decoded, hop_seconds: float) -> None:
        self.decoded = decoded
        self.starts = window_starts(len(decoded.samples), MEL_IMAGE, hop_seconds=hop_seconds)
        self.values = np.empty((len(self.starts), 2), np.float32)
        # tracker.quality's flags: from the decoding worker when it flagged this hop's windows
        known = decoded.flags is not None and len(decoded.flags) == len(self.starts)
        self.flags: list[tuple[str, ...]] = decoded.flags if known else [()] * len(self.starts)
        self.flagged = known
        self._remaining = len(self.starts)
        self._lock = threading.Lock()

    def fill(self, offset: int, values: np.ndarray, flags: list[tuple[str, ...]] | None) -> bool:
        """Store values (and flags, unless the worker gave them) for windows ``offset...``;
        True when this was the song's last part."""
        self.values[offset : offset + len(values)] = values
        if flags is not None:
            self.flags[offset : offset + len(values)] = flags
        with self._lock:  # parts of one song may finish in different threads
            self._remaining -= len(values)
            done = self._remaining == 0
        if done:
            self.decoded.samples = None  # the audio is no longer needed
        return done


Plan = list[tuple[SongWindows, int, int]]  # song, first window, number of windows


def plans(songs: Iterable[SongWindows], size: int) -> Iterator[Plan]:
    """Batches of exactly ``size`` windows (the last may be shorter), a batch spanning as
    many songs as it takes; songs are taken from ``songs`` only as they are needed."""
    current: Plan = []
    filled = 0
    for song in songs:
        offset, count = 0, len(song.starts)
        while offset < count:
            take = min(size - filled, count - offset)
            current.append((song, offset, take))
            filled, offset = filled + take, offset + take
            if filled == size:
                yield current
                current, filled = [], 0
    if current:
        yield current


def cut(plan: Plan, buffer: np.ndarray) -> np.ndarray:
    """The plan's windows, copied into the front of ``buffer`` (batch, WINDOW_SAMPLES)."""
    rows = 0
    for song, offset, take in plan:
        starts = song.starts[offset : offset + take]
        frame_windows(song.decoded.samples, starts, MEL_IMAGE, buffer[rows : rows + take])
        rows += take
    return buffer[:rows]


def hand_out(plan: Plan, windows: np.ndarray, values: np.ndarray) -> list[SongWindows]:
    """Give each song its part of ``values`` and, where its decoding worker did not flag them,
    its windows' flags (silent, clipped, ... as the tracker flags them); returns the songs now
    complete."""
    done, rows = [], 0
    for song, offset, take in plan:
        part = windows[rows : rows + take]
        flags = None if song.flagged else [window_flags(window) for window in part]
        if song.fill(offset, values[rows : rows + take], flags):
            done.append(song)
        rows += take
    return done
