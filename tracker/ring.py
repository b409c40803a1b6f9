"""Fixed-size ring buffer of 16 kHz mono float32 audio between a source and the tracker.

One producer (the source's thread or callback) writes; one consumer (the tracker) reads
windows. Sample positions are absolute: ``written`` counts every sample ever written and
only grows, so a window is named by its end position. A write never waits for the
consumer: it holds a lock only for the copy and overwrites the oldest audio. A producer
that can afford to wait (a file read as fast as possible) calls :meth:`wait_for_space`
first, which waits until the consumer has released enough old audio.
"""

from __future__ import annotations

import threading
import time

import numpy as np

_TIMES = 4096  # write timestamps kept, for "when was this sample written"


class OverwrittenError(RuntimeError):
    """The samples asked for were already overwritten by newer audio."""


class RingBuffer:
    """``capacity`` samples of float32 audio addressed by absolute position."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = int(capacity)
        self._data = np.zeros(self.capacity, dtype=np.float32)
        self._written = 0  # absolute position of the next sample
        self._released = 0  # the consumer no longer needs samples before this position
        self._closed = False
        self._cond = threading.Condition(threading.Lock())
        self._ends = np.zeros(_TIMES, dtype=np.int64)  # `written` after each write...
        self._stamps = np.zeros(_TIMES, dtype=np.float64)  # ...and time.monotonic() then
        self._writes = 0

    @property
    def written(self) -> int:
        """Samples written so far (absolute position of the newest sample + 1)."""
        return self._written

    @property
    def closed(self) -> bool:
        """True once the producer said no more audio will come."""
        return self._closed

    def write(self, samples: np.ndarray) -> None:
        """Append samples, overwriting the oldest ones when full. Never waits on the reader."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        total = len(samples)
        if total == 0:
            return
        keep = samples[-self.capacity :]
        with self._cond:
            start = (self._written + total - len(keep)) % self.capacity
            first = min(len(keep), self.capacity - start)
            self._data[start : start + first] = keep[:first]
            self._data[: len(keep) - first] = keep[first:]
            self._written += total
            slot = self._writes % _TIMES
            self._ends[slot] = self._written
            self._stamps[slot] = time.monotonic()
            self._writes += 1
            self._cond.notify_all()

    def close(self) -> None:
        """The producer is done; waiting readers wake up."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def read(self, end: int, length: int) -> np.ndarray:
        """Copy of the ``length`` samples ending at absolute position ``end``."""
        return self.read_windows(np.array([end - length]), length)[0]

    def read_windows(self, starts: np.ndarray, length: int) -> np.ndarray:
        """(len(starts), length) copies of windows starting at absolute positions ``starts``.

        Raises OverwrittenError if any window is no longer (or not yet) in the buffer."""
        starts = np.asarray(starts, dtype=np.int64)
        out = np.empty((len(starts), length), dtype=np.float32)
        if length > self.capacity:
            raise ValueError(f"window of {length} samples exceeds capacity {self.capacity}")
        with self._cond:
            oldest = self._written - self.capacity
            for row, start in enumerate(starts):
                if start < max(oldest, 0) or start + length > self._written:
                    raise OverwrittenError(
                        f"samples {start}..{start + length} not in buffer "
                        f"({max(oldest, 0)}..{self._written})"
                    )
                begin = int(start) % self.capacity
                first = min(length, self.capacity - begin)
                out[row, :first] = self._data[begin : begin + first]
                out[row, first:] = self._data[: length - first]
        return out

    def wait_for(self, position: int, timeout: float | None = None) -> bool:
        """Wait until ``position`` samples are written (True) or the buffer is closed or the
        timeout passes (False)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._written >= position or self._closed, timeout=timeout
            ) and (self._written >= position)

    def release(self, position: int) -> None:
        """The consumer will never read before ``position``: a waiting producer may go on."""
        with self._cond:
            if position > self._released:
                self._released = position
                self._cond.notify_all()

    def wait_for_space(self, count: int, timeout: float | None = None) -> bool:
        """Producer side: wait until ``count`` samples fit without overwriting unreleased
        audio (True), or the timeout passes (False). Only for producers that may wait; the
        capacity must hold the reader's window plus ``count``, or both sides would wait."""
        count = min(count, self.capacity)
        with self._cond:
            return self._cond.wait_for(
                lambda: self._written + count - self._released <= self.capacity or self._closed,
                timeout=timeout,
            )

    def written_at(self, position: int) -> float | None:
        """time.monotonic() of the write that made ``position`` samples available, or None
        if that write is too old to remember (or has not happened)."""
        with self._cond:
            count = min(self._writes, _TIMES)
            if count == 0 or position > self._written:
                return None
            order = (np.arange(count) + self._writes - count) % _TIMES
            ends = self._ends[order]
            index = int(np.searchsorted(ends, position, side="left"))
            if index == 0 and count == _TIMES:
                return None  # an older, forgotten write may have completed it
            return float(self._stamps[order[index]])
