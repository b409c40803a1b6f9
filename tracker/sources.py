"""Audio sources, what they share: each fills a RingBuffer with 16 kHz mono float32 audio from
its own thread and reports a :class:`SourceStatus`. The sources themselves are
:class:`~emotrack.tracker.file_source.FileSource` (a file streamed from disk) and
:class:`~emotrack.tracker.mic_source.MicSource` (the microphone).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from emotrack.models.audio import SAMPLE_RATE
from emotrack.models.errors import one_line
from emotrack.tracker.ring import RingBuffer

LEVEL_SECONDS = 0.3  # time constant of the level meter
SILENCE_DB = -120.0  # level meter floor


@dataclass
class SourceStatus:
    """What the UI shows about the audio coming in."""

    kind: str  # "file" or "microphone"
    name: str
    position_s: float  # audio read so far, seconds
    duration_s: float | None  # files only
    level_db: float  # RMS dBFS of recent audio (SILENCE_DB when silent)
    overflows: int  # microphone input overflows (audio lost before we got it)
    error: str | None  # what went wrong, None when all is well
    finished: bool  # no more audio will come
    paused: bool
    note: str = ""  # e.g. how a file is paced


class LevelMeter:
    """RMS level meter with an exponential time constant."""

    def __init__(self) -> None:
        self._mean_square = 0.0

    def update(self, samples: np.ndarray) -> None:
        if len(samples) == 0:
            return
        weight = 1.0 - math.exp(-len(samples) / (SAMPLE_RATE * LEVEL_SECONDS))
        block = float(np.mean(np.square(samples, dtype=np.float64)))
        self._mean_square += weight * (block - self._mean_square)

    @property
    def db(self) -> float:
        if self._mean_square <= 10 ** (SILENCE_DB / 10):
            return SILENCE_DB
        return 10.0 * math.log10(self._mean_square)


class NonFiniteSpans:
    """Where a source's audio held NaN or inf (replaced by silence before resampling): merged
    spans of 16 kHz sample positions, so the tracker can flag the windows that hold them."""

    MERGE = SAMPLE_RATE // 10  # spans closer than 0.1 s are one

    def __init__(self) -> None:
        self._spans: list[list[int]] = []
        self._lock = threading.Lock()

    def record(self, data: np.ndarray, first_frame: int, rate: int) -> None:
        """``data`` (frames, channels) starts at ``first_frame`` of audio at ``rate``."""
        bad = ~np.isfinite(data).reshape(len(data), -1).all(axis=1)
        if not bad.any():
            return
        index = np.flatnonzero(bad)
        breaks = np.flatnonzero(np.diff(index) > 1)
        starts = np.r_[index[0], index[breaks + 1]]
        ends = np.r_[index[breaks], index[-1]] + 1
        scale = SAMPLE_RATE / rate
        with self._lock:
            for a, b in zip(starts, ends, strict=True):
                span = [int((first_frame + a) * scale), int(np.ceil((first_frame + b) * scale))]
                if self._spans and span[0] - self._spans[-1][1] <= self.MERGE:
                    self._spans[-1][1] = max(self._spans[-1][1], span[1])
                else:
                    self._spans.append(span)

    def overlaps(self, start: int, end: int) -> bool:
        """Whether 16 kHz samples ``start..end`` held any NaN or inf."""
        with self._lock:
            return any(a < end and start < b for a, b in self._spans)


class Source:
    """Common control of a source thread: start, pause/resume, stop, status."""

    kind = "source"
    realtime = True  # True: audio arrives at its own pace; the tracker drops windows if late

    def __init__(self, name: str) -> None:
        self.name = name
        self._ring: RingBuffer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._finished = threading.Event()
        self._level = LevelMeter()
        self._position = 0.0
        self._overflows = 0
        self._error: str | None = None
        self.note = ""
        self.non_finite = NonFiniteSpans()

    def start(self, ring: RingBuffer) -> None:
        """Begin filling ``ring`` from a new thread."""
        self._ring = ring
        self._thread = threading.Thread(target=self._guarded, name=f"emotrack-{self.kind}")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread; what was written stays in the ring."""
        self._stopping.set()
        self._running.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def duration_s(self) -> float | None:
        return None

    def problems(self) -> list[str]:
        """What the source survived (e.g. damaged data skipped); empty when all is clean."""
        return []

    def status(self) -> SourceStatus:
        return SourceStatus(
            kind=self.kind,
            name=self.name,
            position_s=self._position,
            duration_s=self.duration_s,
            level_db=self._level.db,
            overflows=self._overflows,
            error=self._error,
            finished=self.finished,
            paused=self.paused,
            note=self.note,
        )

    def _guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # reported in the status; the tracker keeps what it has
            if self._error is None:
                self._error = f"{self.name}: {one_line(exc)}"
        finally:
            self._finished.set()
            if self._ring is not None:
                self._ring.close()

    def _run(self) -> None:
        raise NotImplementedError
