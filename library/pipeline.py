"""The scan on one machine: decode workers -> batched inference -> one database writer.

::

    DecodePool (processes: hash, decode, resample)           one result per song
      -> planner thread: cuts each song's window starts into batches of ``batch`` windows,
         a batch spanning as many songs as it takes
      -> inference lanes (threads): copy the windows into a batch buffer, engine.predict
      -> writer thread: summary and timeline per song, tags, rows committed in transactions

Every queue is bounded and a song's samples are dropped as soon as its last window has been
through the model, so memory depends on the batch size and the number of workers, not on the
size of the library. On a GPU two lanes take turns: one copies windows while the other's
batch is on the GPU. Ctrl+C (or SIGTERM) stops the scan; every finished song is committed.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from emotrack.library.decode import Decoded, Task
from emotrack.library.pool import DecodePool
from emotrack.library.results import failed_row, ok_row
from emotrack.library.store import SongRow, Store
from emotrack.library.tags import TagError, write_tags
from emotrack.models.audio import MEL_IMAGE, frame_windows, window_starts
from emotrack.tracker.engine import Engine

COMMIT_SECONDS = 1.0  # a transaction at least this often...
COMMIT_SONGS = 64  # ...or every this many songs
FAILURES_SHOWN = 20
WAIT_S = 0.2


class Terminated(BaseException):
    """SIGTERM during a scan: stop as for Ctrl+C (exit code 143)."""


@dataclass
class ScanConfig:
    hop_seconds: float
    workers: int
    batch: int  # windows per engine call
    lanes: int = 1  # inference threads
    write_tags: bool = False
    commit_seconds: float = COMMIT_SECONDS
    commit_songs: int = COMMIT_SONGS


@dataclass
class ScanReport:
    """What one scan did."""

    ok: int = 0
    failed: int = 0
    unchanged: int = 0  # changed size or time, same content: results kept
    tagged: int = 0
    tag_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the first FAILURES_SHOWN reasons
    audio_seconds: float = 0.0
    windows: int = 0
    wall_seconds: float = 0.0
    interrupted: str | None = None  # "interrupted" (Ctrl+C) or "terminated" (SIGTERM)

    @property
    def songs(self) -> int:
        return self.ok + self.failed + self.unchanged

    @property
    def realtime_factor(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def songs_per_hour(self) -> float:
        return 3600.0 * self.songs / self.wall_seconds if self.wall_seconds > 0 else 0.0


class _Song:
    """A decoded song on its way through the model; filled by the lanes."""

    def __init__(self, decoded: Decoded, hop_seconds: float) -> None:
        self.decoded = decoded
        self.starts = window_starts(len(decoded.samples), MEL_IMAGE, hop_seconds=hop_seconds)
        self.values = np.empty((len(self.starts), 2), np.float32)
        self._remaining = len(self.starts)
        self._lock = threading.Lock()

    def fill(self, offset: int, values: np.ndarray) -> bool:
        """Store values for windows ``offset...``; True when this was the song's last part."""
        self.values[offset : offset + len(values)] = values
        with self._lock:
            self._remaining -= len(values)
            done = self._remaining == 0
        if done:
            self.decoded.samples = None  # the audio is no longer needed
        return done


Segment = tuple[_Song, int, int]  # song, first window, number of windows


class Scan:
    """One run of the pipeline over ``tasks``; ``on_song(report)`` after each song."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        model_id: str,
        config: ScanConfig,
        on_song: Callable[[ScanReport], None] | None = None,
    ) -> None:
        self.engine, self.store, self.model_id, self.config = engine, store, model_id, config
        self.on_song = on_song or (lambda report: None)
        self.report = ScanReport()
        self._stop = threading.Event()
        self._plans: queue.Queue = queue.Queue(maxsize=2 * config.lanes)
        self._results: queue.Queue = queue.Queue(maxsize=4 * COMMIT_SONGS)
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()

    def run(self, tasks: list[Task]) -> ScanReport:
        """Scan every task. Returns the report; Ctrl+C / SIGTERM end it early (marked in the
        report), what finished is committed. A database error is raised after the threads
        stop (nothing committed is lost)."""
        began = time.monotonic()
        pool = DecodePool(self.config.workers)
        planner = _thread(self._guarded(self._plan, pool, tasks), "emotrack-plan")
        lanes = [
            _thread(self._guarded(self._lane), f"emotrack-lane-{i}")
            for i in range(self.config.lanes)
        ]
        writer = _thread(self._guarded(self._write), "emotrack-write")
        try:
            try:
                _join([planner, *lanes])
            except KeyboardInterrupt:
                self.report.interrupted = "interrupted"
            except Terminated:
                self.report.interrupted = "terminated"
            if self.report.interrupted:
                self._stop.set()
                _join([planner, *lanes])
        finally:
            while writer.is_alive():  # the end mark; a writer that died takes nothing
                try:
                    self._results.put(None, timeout=WAIT_S)
                    break
                except queue.Full:
                    continue
            _join([writer])
            pool.close()
            self.report.wall_seconds = time.monotonic() - began
        if self._errors:
            raise self._errors[0]
        return self.report

    # ------------------------------------------------------------------------ threads

    def _guarded(self, body: Callable, *args) -> Callable[[], None]:
        def run() -> None:
            try:
                body(*args)
            except BaseException as exc:  # reported by run(); the other threads stop
                with self._lock:
                    self._errors.append(exc)
                self._stop.set()

        return run

    def _plan(self, pool: DecodePool, tasks: list[Task]) -> None:
        """Decoded songs -> batches of exactly ``batch`` windows (the last may be shorter)."""
        size = self.config.batch
        current: list[Segment] = []
        filled = 0
        for decoded in pool.run(tasks, self._stop):
            if self._stop.is_set():
                return
            if decoded.samples is None:  # failed or unchanged: straight to the writer
                self._put(self._results, decoded)
                continue
            song = _Song(decoded, self.config.hop_seconds)
            offset, count = 0, len(song.starts)
            while offset < count:
                take = min(size - filled, count - offset)
                current.append((song, offset, take))
                filled, offset = filled + take, offset + take
                if filled == size:
                    self._put(self._plans, current)
                    current, filled = [], 0
        if current:
            self._put(self._plans, current)
        for _ in range(self.config.lanes):
            self._put(self._plans, None)

    def _lane(self) -> None:
        """Batches -> engine -> values into their songs; finished songs to the writer."""
        buffer = np.empty((self.config.batch, MEL_IMAGE.window_samples), np.float32)
        while not self._stop.is_set():
            try:
                plan = self._plans.get(timeout=WAIT_S)
            except queue.Empty:
                continue
            if plan is None:
                return
            rows = 0
            for song, offset, take in plan:
                starts = song.starts[offset : offset + take]
                frame_windows(song.decoded.samples, starts, MEL_IMAGE, buffer[rows : rows + take])
                rows += take
            values = self.engine.predict(buffer[:rows])
            rows = 0
            for song, offset, take in plan:
                if song.fill(offset, values[rows : rows + take]):
                    self._put(self._results, song)
                rows += take

    def _write(self) -> None:
        """Rows committed every ``commit_songs`` songs or ``commit_seconds``; the rest at the
        end (also after Ctrl+C)."""
        pending: list[SongRow] = []
        last = time.monotonic()
        while True:
            try:
                item = self._results.get(timeout=WAIT_S)
            except queue.Empty:
                item = False
            if item is None:
                break
            if item is not False:
                row = self._row(item)
                if row is not None:
                    pending.append(row)
            due = time.monotonic() - last >= self.config.commit_seconds
            if pending and (len(pending) >= self.config.commit_songs or due):
                self.store.write(pending)
                pending, last = [], time.monotonic()
        self.store.write(pending)

    def _row(self, item: _Song | Decoded) -> SongRow | None:
        report = self.report
        if isinstance(item, _Song):
            row = ok_row(item.decoded, item.values, self.config.hop_seconds, self.model_id)
            report.ok += 1
            report.windows += len(item.values)
            report.audio_seconds += row.duration
            if self.config.write_tags:
                self._tag(row)
        elif item.unchanged:
            self.store.touch(item.path, item.size, item.mtime_ns)
            report.unchanged += 1
            row = None
        else:
            row = failed_row(item, self.model_id)
            report.failed += 1
            if len(report.failures) < FAILURES_SHOWN:
                report.failures.append(item.error)
        self.on_song(report)
        return row

    def _tag(self, row: SongRow) -> None:
        """Write the song's values into its own tags; the row then describes the tagged
        file (size, time and hash), so the next scan sees it unchanged."""
        try:
            after = write_tags(row.path, row.summary)
        except TagError as exc:
            self.report.tag_errors.append(str(exc))
            return
        row.size, row.mtime_ns, row.content_hash = after.size, after.mtime_ns, after.content_hash
        row.tagged_hash = after.content_hash
        self.report.tagged += 1

    def _put(self, target: queue.Queue, item) -> None:
        """Put, unless the scan stops first (then the item is dropped)."""
        while not self._stop.is_set():
            try:
                target.put(item, timeout=WAIT_S)
                return
            except queue.Full:
                continue


def _thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _join(threads: list[threading.Thread]) -> None:
    """Wait for the threads, in short waits so Ctrl+C and SIGTERM reach the main thread."""
    for thread in threads:
        while thread.is_alive():
            thread.join(WAIT_S)
