"""Decoding worker processes, one pipe each, one song at a time each.

The workers are started fresh (``spawn``: they never inherit the model, threads or a GPU
context of the scan) and import no torch. Each has its own pipe, so the pool always knows
which file a worker is on: a worker that dies on a file (a decoder crash) or takes too long
over one is replaced, and that file is reported as failed; the scan goes on. A worker gets
its next file only once its result is taken, so a slow consumer holds the workers back
instead of filling memory. Results travel as :mod:`~emotrack.library.handover` sends them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from emotrack.library.decode import Decoded, Task, decode
from emotrack.library.handover import receive, send
from emotrack.models.errors import one_line

DECODE_TIMEOUT_S = 600.0  # one file may take this long to hash and decode
POLL_S = 0.5  # how often waiting checks for timeouts and stop requests
STOP_WAIT_S = 5.0
EXIT_WAIT_S = 1.0  # a worker whose connection broke has this long to be seen exiting


def default_workers() -> int:
    """Every core this process may use but one (for the model), at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: Connection
    task: Task | None = None
    since: float = 0.0


class DecodePool:
    """``workers`` processes decoding songs; use as a context manager, or call close()."""

    def __init__(self, workers: int, timeout_s: float = DECODE_TIMEOUT_S) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.timeout_s = timeout_s
        self._context = multiprocessing.get_context("spawn")
        self._workers = [self._start() for _ in range(workers)]

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=serve, args=(theirs,), name="emotrack-decode", daemon=True
        )
        process.start()
        theirs.close()
        return _Worker(process, ours)

    def run(self, tasks: Iterable[Task], stop=None) -> Iterator[Decoded]:
        """Decode ``tasks``; yields each result as it is ready (any order). ``stop``: an
        object with ``is_set()`` (a threading.Event); once it is set, run() returns."""
        pending = iter(tasks)
        more = True
        while True:
            for worker in self._workers:
                if worker.task is None and more:
                    task = next(pending, None)
                    if task is None:
                        more = False
                        break
                    worker.task, worker.since = task, time.monotonic()
                    worker.connection.send(task)
            busy = [w for w in self._workers if w.task is not None]
            if not busy:
                return
            handles = [w.connection for w in busy] + [w.process.sentinel for w in busy]
            ready = set(wait(handles, timeout=POLL_S))
            if stop is not None and stop.is_set():
                return  # close() ends the workers still busy
            for worker in busy:
                result = None
                if worker.connection in ready or worker.process.sentinel in ready:
                    result = self._receive(worker)
                elif time.monotonic() - worker.since > self.timeout_s:
                    result = self._replace(
                        worker,
                        f"{worker.task.path}: decoding took over {self.timeout_s:g} s and was "
                        "stopped; check the file (is it a whole, local audio file?)",
                    )
                if result is not None:
                    worker.task = None
                    yield result

    def _receive(self, worker: _Worker) -> Decoded:
        try:
            return receive(worker.connection)
        except (EOFError, OSError) as exc:
            worker.process.join(timeout=EXIT_WAIT_S)  # a crash: it has exited, or is exiting
            code = worker.process.exitcode
            if code is None:  # alive: the song could not be taken from it
                return self._replace(
                    worker,
                    f"{worker.task.path}: could not take the decoded song from its decoding "
                    f"process ({one_line(exc)}); scan again with --retry-failed to retry it",
                )
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            return self._replace(
                worker,
                f"{worker.task.path}: the decoder crashed on this file ({how}); the file "
                "may be corrupt",
                stopped=True,
            )

    def _replace(self, worker: _Worker, error: str, stopped: bool = False) -> Decoded:
        """The worker's file failed: stop the worker if needed, put a fresh one in its place."""
        path = worker.task.path
        if not stopped:
            _end(worker)
        worker.connection.close()
        fresh = self._start()
        worker.process, worker.connection = fresh.process, fresh.connection
        return Decoded(path, error=error)

    def close(self) -> None:
        for worker in self._workers:
            try:
                worker.connection.send(None)
            except OSError:
                pass
        for worker in self._workers:
            worker.process.join(timeout=STOP_WAIT_S if worker.task is None else 0.1)
            if worker.process.is_alive():
                _end(worker)
            worker.connection.close()

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def serve(connection: Connection) -> None:
    """A worker process's loop: a Task in, a Decoded out, until None or the pipe closes.
    Ctrl+C is for the scan's main process, which stops the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):  # the scan went away (killed): so do we
            return
        if task is None:
            return
        try:
            send(connection, decode(task))
        except OSError:  # BrokenPipeError among them
            return


def _end(worker: _Worker) -> None:
    worker.process.terminate()
    worker.process.join(timeout=STOP_WAIT_S)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
