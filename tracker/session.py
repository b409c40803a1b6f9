"""The tracker: a source fills a ring buffer, a worker thread runs the newest 5 s window
through the engine every step, and the UI (or the headless loop, ``tracker.headless``) polls
for estimates.

Windows end every step from the start of the audio (the first at 5 s), like
``window_starts(..., step_seconds=...)`` offline. A live source never waits for the model:
when inference falls behind, only the newest window is processed and the skipped ones are
counted as dropped. A file read as fast as possible waits for the model instead (no drops),
and several windows go through the model in one batch.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from emotrack.models.audio import SAMPLE_RATE, TRACK_STEP_SECONDS
from emotrack.models.errors import UserError
from emotrack.tracker.engine import Engine
from emotrack.tracker.quality import BandwidthMeter, is_music, window_flags
from emotrack.tracker.ring import OverwrittenError, RingBuffer
from emotrack.tracker.sources import Source, SourceStatus

LATENCIES_KEPT = 10_000  # latency percentiles are over the most recent windows
SLACK_SECONDS = 4.0  # ring space beyond what one batch of windows needs
MAX_BATCH_SPAN_SECONDS = 60.0  # a batch of windows never spans more audio than this


@dataclass
class Estimate:
    """One window's emotion; ``time`` is the end of the window in the audio (seconds)."""

    time: float
    valence: float  # 1..9, smoothed when smoothing is on
    arousal: float
    raw_valence: float  # 1..9, the model's own value
    raw_arousal: float
    latency_ms: float  # window complete in the buffer -> value out
    flags: tuple[str, ...] = ()  # tracker.quality.FLAGS: silent, near-silent, non-finite, clipped

    @property
    def music(self) -> bool:
        """False for silent, near-silent and non-finite windows: no mood, not in summaries."""
        return is_music(self.flags)


@dataclass
class TrackerStats:
    """How the tracker keeps up. ``realtime_factor`` = audio seconds processed / wall seconds
    (about 1 when following live audio; 100 means 100 times faster than real time)."""

    windows: int
    dropped: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    realtime_factor: float | None
    audio_seconds: float
    wall_seconds: float
    inference_seconds: float  # time spent in the engine (front end + model)
    device: str
    backend: str
    batch: int  # windows per engine call (1 for live audio)

    def to_dict(self) -> dict:
        return asdict(self)


def check_step(step_seconds: float) -> float:
    if not (step_seconds > 0 and round(step_seconds * SAMPLE_RATE) >= 1):
        raise UserError(f"--step {step_seconds}: the step must be a positive number of seconds")
    return float(step_seconds)


def check_smoothing(smoothing: float | None) -> float:
    if smoothing is None:
        return 0.0
    if not 0.0 <= smoothing < 1.0:
        raise UserError(
            f"--smooth {smoothing}: choose a value from 0 (off) up to, not including, 1"
        )
    return float(smoothing)


class Tracker:
    """Runs ``engine`` on ``source`` every ``step_seconds``. ``smoothing`` (0..1, EMA) is the
    weight of the previous shown value: 0 or None shows the raw values. ``batch``: windows
    per engine call for sources that can wait (default: the engine's choice)."""

    def __init__(
        self,
        source: Source,
        engine: Engine,
        step_seconds: float = TRACK_STEP_SECONDS,
        smoothing: float | None = None,
        batch: int | None = None,
    ) -> None:
        if engine.audio.sample_rate != SAMPLE_RATE:
            raise UserError(f"model expects {engine.audio.sample_rate} Hz; sources give 16 kHz")
        self.source, self.engine = source, engine
        self.step_seconds = check_step(step_seconds)
        self.smoothing = check_smoothing(smoothing)
        self._step = int(round(self.step_seconds * SAMPLE_RATE))
        self._window = engine.window_samples
        wanted = 1 if source.realtime else max(1, batch or engine.batch_size)
        self.batch = min(wanted, 1 + int(MAX_BATCH_SPAN_SECONDS * SAMPLE_RATE) // self._step)
        span = self._window + (self.batch - 1) * self._step  # audio one batch of windows needs
        self._ring = RingBuffer(span + int(SLACK_SECONDS * SAMPLE_RATE))
        self._lock = threading.Lock()
        self._timeline: list[Estimate] = []
        self._polled = 0
        self._latencies: deque[float] = deque(maxlen=LATENCIES_KEPT)
        self._dropped = 0
        self._errors: list[str] = []
        self._inference_seconds = 0.0
        self._audio_end = 0  # samples of audio covered by processed windows
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._started: float | None = None
        self._ended: float | None = None
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self.bandwidth = BandwidthMeter()

    # ------------------------------------------------------------------------ control

    def start(self) -> None:
        """Start the source and the worker (UserError if the source cannot start)."""
        if self._thread is not None:
            return
        self._started = time.monotonic()
        self.source.start(self._ring)
        self._thread = threading.Thread(target=self._work, name="emotrack-tracker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the source and the worker; the timeline is kept."""
        self._stop.set()
        self._running.set()
        self.source.stop()
        self._ring.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)
        self._unpause_clock()

    def pause(self) -> None:
        """Stop consuming (and playing) audio until :meth:`resume`."""
        if self._paused_at is None:
            self._paused_at = time.monotonic()
        self._running.clear()
        self.source.pause()

    def resume(self) -> None:
        self.source.resume()
        self._running.set()
        self._unpause_clock()

    def _unpause_clock(self) -> None:
        if self._paused_at is not None:
            self._paused_total += time.monotonic() - self._paused_at
            self._paused_at = None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the tracker finishes (True) or the timeout passes (False)."""
        return self._finished.wait(timeout)

    # ------------------------------------------------------------------------ results

    def poll(self) -> list[Estimate]:
        """Estimates made since the last poll (oldest first)."""
        with self._lock:
            new = self._timeline[self._polled :]
            self._polled = len(self._timeline)
        return new

    @property
    def timeline(self) -> list[Estimate]:
        """Every estimate so far (a copy)."""
        with self._lock:
            return list(self._timeline)

    @property
    def finished(self) -> bool:
        """The source ended and every window it allowed has been processed."""
        return self._finished.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def errors(self) -> list[str]:
        """What went wrong (source and inference); empty when all is well."""
        source_error = self.source.status().error
        with self._lock:
            errors = list(self._errors)
        return ([source_error] if source_error else []) + errors

    def source_status(self) -> SourceStatus:
        return self.source.status()

    def stats(self) -> TrackerStats:
        with self._lock:
            latencies = np.array(self._latencies, dtype=np.float64)
            windows, dropped, busy = len(self._timeline), self._dropped, self._inference_seconds
            audio = self._audio_end / SAMPLE_RATE
        wall = 0.0
        if self._started is not None:
            paused = self._paused_total
            if self._paused_at is not None:
                paused += time.monotonic() - self._paused_at
            wall = (self._ended or time.monotonic()) - self._started - paused
        have = len(latencies) > 0
        return TrackerStats(
            windows=windows,
            dropped=dropped,
            latency_p50_ms=float(np.percentile(latencies, 50)) if have else None,
            latency_p95_ms=float(np.percentile(latencies, 95)) if have else None,
            realtime_factor=audio / wall if windows and wall > 0 else None,
            audio_seconds=audio,
            wall_seconds=wall,
            inference_seconds=busy,
            device=self.engine.device_name,
            backend=self.engine.backend,
            batch=self.batch,
        )

    # ------------------------------------------------------------------------ worker

    def _work(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # reported; what was tracked so far is kept
            with self._lock:
                self._errors.append(f"inference failed: {type(exc).__name__}: {exc}")
            self.source.stop()
        finally:
            self._ended = time.monotonic()
            if not self._stop.is_set():
                self._check_enough_audio()
                self._finished.set()

    def _loop(self) -> None:
        ring, step, width = self._ring, self._step, self._window
        next_end = width
        while not self._stop.is_set():
            if not self._running.wait(timeout=0.1):
                continue
            closed = ring.closed  # read before `written`: a closing write is then seen
            written = ring.written
            if written < next_end:
                if closed:
                    return
                ring.wait_for(next_end, timeout=0.1)
                continue
            ready = (written - next_end) // step + 1
            if self.source.realtime:  # live: only the newest window, the rest are dropped
                with self._lock:
                    self._dropped += ready - 1
                next_end += (ready - 1) * step
                ready = 1
            ends = next_end + step * np.arange(min(ready, self.batch), dtype=np.int64)
            try:
                windows = ring.read_windows(ends - width, width)
            except OverwrittenError:
                continue  # fell a whole buffer behind: the next pass takes the newest
            self._process(windows, ends)
            next_end = int(ends[-1]) + step
            ring.release(next_end - width)

    def _process(self, windows: np.ndarray, ends: np.ndarray) -> None:
        complete = [self._ring.written_at(int(end)) for end in ends]
        began = time.monotonic()
        values = self.engine.predict(windows)
        done = time.monotonic()
        estimates = []
        with self._lock:
            previous = self._timeline[-1] if self._timeline else None
            rows = zip(ends, complete, windows, values, strict=True)
            for end, ready_at, window, (valence, arousal) in rows:
                flags = window_flags(
                    window, self.source.non_finite.overlaps(end - len(window), end)
                )
                if is_music(flags):
                    self.bandwidth.add(window)
                shown = (float(valence), float(arousal))
                if previous is not None and self.smoothing:
                    a = self.smoothing
                    shown = (
                        a * previous.valence + (1 - a) * shown[0],
                        a * previous.arousal + (1 - a) * shown[1],
                    )
                latency = (done - (ready_at if ready_at is not None else began)) * 1000.0
                previous = Estimate(
                    time=int(end) / SAMPLE_RATE,
                    valence=shown[0],
                    arousal=shown[1],
                    raw_valence=float(valence),
                    raw_arousal=float(arousal),
                    latency_ms=latency,
                    flags=flags,
                )
                estimates.append(previous)
                self._latencies.append(latency)
            self._timeline.extend(estimates)
            self._inference_seconds += done - began
            self._audio_end = int(ends[-1])

    def _check_enough_audio(self) -> None:
        """A source that ended before one full window: say so (files shorter than 5 s)."""
        with self._lock:
            if self._timeline or self._errors or self.source.status().error:
                return
            heard = self._ring.written / SAMPLE_RATE
            self._errors.append(
                f"{self.source.name}: only {heard:.2f} s of audio; tracking needs at least "
                f"{self._window / SAMPLE_RATE:g} s (one window); use a longer recording"
            )
