"""The scan on one machine: decode workers -> batched inference -> one database writer.

::

    DecodePool (processes: hash, decode, resample)           one result per song
      -> receiver thread: takes each result as soon as it is ready (the worker goes on to
         its next song) into a short queue of decoded songs
      -> planner thread: cuts each song's window starts into batches of ``batch`` windows,
         a batch spanning as many songs as it takes
      -> inference lanes (threads): each batch's windows cut from its songs' samples (on a GPU
         by the engine, from one copy of the samples they span; see batching) -> the model
      -> writer thread: summary and timeline per song, tags, rows committed in transactions

Every queue is bounded and a song's samples are dropped as soon as its last window has been
through the model, so memory depends on the batch size and the number of workers, not on the
size of the library. On a GPU two lanes take turns: one packs a batch while the other's is
on the GPU. Ctrl+C (or SIGTERM) stops the scan; every finished song is committed.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from emotrack.library.batching import SongWindows, batch_runner, hand_out, plans
from emotrack.library.decode import Decoded, Task
from emotrack.library.pool import DecodePool
from emotrack.library.results import failed_row, ok_row
from emotrack.library.store import Store
from emotrack.library.writer import COMMIT_SECONDS, COMMIT_SONGS, RowWriter, ScanReport
from emotrack.tracker.engine import Engine

WAIT_S = 0.2
# How long a busy thread keeps the GIL while another waits for it (Python's default: 5 ms).
# The receiver and the writer come back from short waits on sockets, pipes and SQLite many
# times a song; each return would otherwise wait behind the lanes for up to that long.
SWITCH_INTERVAL_S = 0.0005


class Terminated(BaseException):
    """SIGTERM during a scan: stop as for Ctrl+C (exit code 143)."""


@dataclass
class ScanConfig:
    step_seconds: float
    workers: int
    batch: int  # windows per engine call
    lanes: int = 1  # inference threads
    device_cut: bool | None = None  # windows cut where the model runs (None: on a GPU)
    write_tags: bool = False
    commit_seconds: float = COMMIT_SECONDS
    commit_songs: int = COMMIT_SONGS


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
        self.report = ScanReport()
        self.writer = RowWriter(
            store,
            self.report,
            config.write_tags,
            on_song,
            config.commit_seconds,
            config.commit_songs,
        )
        self._stop = threading.Event()
        self._decoded: queue.Queue = queue.Queue(maxsize=max(2, config.workers))
        self._plans: queue.Queue = queue.Queue(maxsize=2 * config.lanes)
        self._results: queue.Queue = queue.Queue(maxsize=4 * config.commit_songs)
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()

    def run(self, tasks: list[Task]) -> ScanReport:
        """Scan every task. Returns the report; Ctrl+C / SIGTERM end it early (marked in the
        report), what finished is committed. A database error is raised after the threads
        stop (nothing committed is lost)."""
        with quick_switches():
            return self._run(tasks)

    def _run(self, tasks: list[Task]) -> ScanReport:
        began = time.monotonic()
        step = self.config.step_seconds
        tasks = [replace(task, step_seconds=step) for task in tasks]  # workers flag the windows
        self.engine.prepare(self.config.batch)  # before any thread: a capture has the GPU alone
        pool = DecodePool(self.config.workers)
        receiver = _thread(self._guarded(self._receive, pool, tasks), "emotrack-receive")
        planner = _thread(self._guarded(self._plan), "emotrack-plan")
        lanes = [
            _thread(self._guarded(self._lane), f"emotrack-lane-{i}")
            for i in range(self.config.lanes)
        ]
        writer = _thread(self._guarded(self._write), "emotrack-write")
        try:
            try:
                _join([receiver, planner, *lanes])
            except KeyboardInterrupt:
                self.report.interrupted = "interrupted"
            except Terminated:
                self.report.interrupted = "terminated"
            if self.report.interrupted:
                self._stop.set()
                _join([receiver, planner, *lanes])
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

    def _receive(self, pool: DecodePool, tasks: list[Task]) -> None:
        """Decoded songs to the planner as the workers finish them (a worker waits until its
        result is taken); failed and unchanged songs straight to the writer."""
        for decoded in pool.run(tasks, self._stop):
            if self._stop.is_set():
                return
            target = self._results if decoded.samples is None else self._decoded
            self._put(target, decoded)
        self._put(self._decoded, None)

    def _plan(self) -> None:
        """Decoded songs -> batches of ``batch`` windows."""
        for plan in plans(self._songs(), self.config.batch):
            self._put(self._plans, plan)
        for _ in range(self.config.lanes):
            self._put(self._plans, None)

    def _songs(self) -> Iterator[SongWindows]:
        for decoded in self._take(self._decoded):
            yield SongWindows(decoded, self.config.step_seconds)

    def _lane(self) -> None:
        """Batches -> engine -> values into their songs; finished songs to the writer."""
        run = batch_runner(self.engine, self.config.batch, self.config.device_cut)
        for plan in self._take(self._plans):
            for song in hand_out(plan, run(plan)):
                self._put(self._results, song)

    def _write(self) -> None:
        """Rows committed as they come (see RowWriter); the rest at the end, also after
        Ctrl+C."""
        writer, step = self.writer, self.config.step_seconds
        while True:
            try:
                item = self._results.get(timeout=WAIT_S)
            except queue.Empty:
                writer.tick()
                continue
            if item is None:
                break
            if isinstance(item, SongWindows):
                writer.ok(ok_row(item.decoded, item.values, step, self.model_id, item.flags))
            elif item.unchanged:
                writer.unchanged(item.path, item.size, item.mtime_ns)
            else:
                writer.failed(failed_row(item, self.model_id))
        writer.flush()

    def _take(self, source: queue.Queue) -> Iterator:
        """The items of ``source`` up to its end mark (None), unless the scan stops first;
        the counterpart of :meth:`_put`."""
        while not self._stop.is_set():
            try:
                item = source.get(timeout=WAIT_S)
            except queue.Empty:
                continue
            if item is None:
                return
            yield item

    def _put(self, target: queue.Queue, item: SongWindows | Decoded | list | None) -> None:
        """Put, unless the scan stops first (then the item is dropped)."""
        while not self._stop.is_set():
            try:
                target.put(item, timeout=WAIT_S)
                return
            except queue.Full:
                continue


_switches = threading.Lock()
_scans_running = 0
_switch_before = 0.0


@contextmanager
def quick_switches() -> Iterator[None]:
    """Python's switch interval at most SWITCH_INTERVAL_S while any scan of this process
    runs; as it was once the last one ends, however it ends."""
    global _scans_running, _switch_before
    with _switches:
        if _scans_running == 0:
            _switch_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_before, SWITCH_INTERVAL_S))
        _scans_running += 1
    try:
        yield
    finally:
        with _switches:
            _scans_running -= 1
            if _scans_running == 0:
                sys.setswitchinterval(_switch_before)


def _thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _join(threads: list[threading.Thread]) -> None:
    """Wait for the threads, in short waits so Ctrl+C and SIGTERM reach the main thread."""
    for thread in threads:
        while thread.is_alive():
            thread.join(WAIT_S)
