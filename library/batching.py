"""Windows from many songs in batches of one size: what keeps the model busy.

A batch is planned as parts of songs (a song's windows ``first ... first + count``), a batch
spanning as many songs as it takes. It runs in one of two ways (:func:`batch_runner`):

- **host cut**: its 5 s windows are copied from the songs' 16 kHz samples into one batch
  buffer, which goes to ``engine.predict`` (ONNX Runtime, a model on a CPU);
- **device cut**: the samples its windows span are packed, part after part, into one flat
  buffer (a tenth of the windows' bytes at a 0.5 s step), which the engine sends to its device
  in one copy and cuts into windows there (``engine.predict_spans``: PyTorch on a GPU).

A song's samples are let go as soon as its last window has its values. Shared by the local
pipeline and the Ray actors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from emotrack.library.decode import Decoded, song_flags
from emotrack.models.audio import MEL_IMAGE, frame_windows, window_starts

WINDOW_SAMPLES = MEL_IMAGE.window_samples  # every model's window: 5 s at 16 kHz


class SongWindows:
    """A decoded song on its way through the model; its values are filled batch by batch."""

    def __init__(self, decoded: Decoded, step_seconds: float) -> None:
        self.decoded = decoded
        self.starts = window_starts(len(decoded.samples), MEL_IMAGE, step_seconds=step_seconds)
        self.values = np.empty((len(self.starts), 2), np.float32)
        # tracker.quality's flags: from the decoding worker when it flagged this step's windows
        known = decoded.flags is not None and len(decoded.flags) == len(self.starts)
        self.flags = decoded.flags if known else song_flags(decoded.samples, step_seconds)
        self._remaining = len(self.starts)
        self._lock = threading.Lock()

    def fill(self, offset: int, values: np.ndarray) -> bool:
        """Store the values of windows ``offset...``; True when this was the song's last part."""
        self.values[offset : offset + len(values)] = values
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


def span_samples(plan: Plan) -> int:
    """How many samples :func:`pack` puts into its buffer for ``plan``."""
    return sum(
        int(song.starts[offset + take - 1] - song.starts[offset]) + WINDOW_SAMPLES
        for song, offset, take in plan
    )


def pack(plan: Plan, samples: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The samples the plan's windows span, part after part, copied into the front of
    ``samples`` (at least :func:`span_samples` long; zeros past a song's end, as
    :func:`frame_windows` pads), and where each window starts in them, into the front of
    ``starts`` (int64, at least one per window): window ``i`` is
    ``samples[starts[i] : starts[i] + WINDOW_SAMPLES]``. Returns the two filled fronts."""
    used, rows = 0, 0
    for song, offset, take in plan:
        part = song.starts[offset : offset + take]
        first, length = int(part[0]), int(part[-1] - part[0]) + WINDOW_SAMPLES
        source = song.decoded.samples[first : first + length]
        samples[used : used + len(source)] = source
        samples[used + len(source) : used + length] = 0.0
        np.add(part, used - first, out=starts[rows : rows + take])
        used, rows = used + length, rows + take
    return samples[:used], starts[:rows]


def hand_out(plan: Plan, values: np.ndarray) -> list[SongWindows]:
    """Give each song its part of ``values``; returns the songs now complete."""
    done, rows = [], 0
    for song, offset, take in plan:
        if song.fill(offset, values[rows : rows + take]):
            done.append(song)
        rows += take
    return done


BatchRunner = Callable[[Plan], np.ndarray]  # a plan -> its windows' values (rows, 2)


def batch_runner(engine, batch: int, device_cut: bool | None = None) -> BatchRunner:
    """How one inference thread runs plans of up to ``batch`` windows on ``engine``: a device
    cut where the engine has one (``predict_spans``) and ``device_cut`` says so (None: when
    the model runs on a GPU, where copying every window there is what a host cut costs
    most); a host cut otherwise. Each runner has its own buffers: one runner per thread."""
    if device_cut is None:
        device_cut = engine.on_gpu
    if device_cut and hasattr(engine, "predict_spans"):
        return DeviceCut(engine, batch)
    return HostCut(engine, batch)


class HostCut:
    """Windows copied into a batch buffer on the host, then ``engine.predict``."""

    def __init__(self, engine, batch: int) -> None:
        self.engine = engine
        self.buffer = np.empty((batch, WINDOW_SAMPLES), np.float32)

    def __call__(self, plan: Plan) -> np.ndarray:
        return self.engine.predict(cut(plan, self.buffer))


class DeviceCut:
    """The samples a batch spans and its windows' starts, packed into host buffers from
    ``engine.host_buffer`` (pinned memory on a GPU, so that their copies there wait for
    nothing queued before them); ``engine.predict_spans`` cuts the windows on its device. The
    samples' buffer grows as a batch needs, up to a batch of windows from as many songs."""

    def __init__(self, engine, batch: int) -> None:
        self.engine = engine
        self.limit = batch * WINDOW_SAMPLES  # every window from another song: no overlaps
        self.samples = np.empty(0, np.float32)
        self.starts = engine.host_buffer(batch, np.int64)

    def __call__(self, plan: Plan) -> np.ndarray:
        need = span_samples(plan)
        if need > len(self.samples):
            grown = max(need, min(self.limit, 2 * need))
            self.samples = self.engine.host_buffer(grown, np.float32)
        return self.engine.predict_spans(*pack(plan, self.samples, self.starts))
