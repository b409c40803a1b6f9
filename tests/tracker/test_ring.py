"""RingBuffer: order, wrap-around, overwrite, and nothing lost or duplicated across threads."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emotrack.tracker.ring import OverwrittenError, RingBuffer


@settings(max_examples=80, deadline=None)
@given(
    capacity=st.integers(1, 64),
    sizes=st.lists(st.integers(0, 150), min_size=1, max_size=25),
)
def test_reads_return_the_newest_samples_in_order_after_any_writes(capacity, sizes):
    ring = RingBuffer(capacity)
    stream = np.arange(sum(sizes), dtype=np.float32)
    position = 0
    for size in sizes:
        ring.write(stream[position : position + size])
        position += size
        assert ring.written == position
        kept = min(position, capacity)
        if kept:
            np.testing.assert_array_equal(
                ring.read(position, kept), stream[position - kept : position]
            )
        starts = np.arange(max(position - capacity, 0), position)  # every window still held
        for length in {1, min(7, capacity), capacity}:
            usable = starts[starts + length <= position]
            np.testing.assert_array_equal(
                ring.read_windows(usable, length), stream[usable[:, None] + np.arange(length)]
            )
        if position > capacity:  # older audio is gone, and says so
            with pytest.raises(OverwrittenError):
                ring.read(position - capacity, 1)
        with pytest.raises(OverwrittenError):  # the future is not there either
            ring.read(position + 1, 1)


def test_a_write_larger_than_the_buffer_keeps_its_tail():
    ring = RingBuffer(10)
    ring.write(np.arange(3, dtype=np.float32))
    ring.write(np.arange(100, 125, dtype=np.float32))
    assert ring.written == 28
    np.testing.assert_array_equal(ring.read(28, 10), np.arange(115, 125))


def test_waiting_producer_and_reader_lose_and_duplicate_nothing():
    """A file source (waits for space) and the tracker (reads windows, releases) in parallel:
    every window read is exactly the samples written there."""
    total, width, hop, block = 200_000, 5_000, 777, 4_000
    ring = RingBuffer(width + block + hop)  # a window and a block must fit, or both would wait
    rng = np.random.default_rng(0)

    def produce():
        position = 0
        while position < total:
            size = int(rng.integers(1, block + 1))
            samples = np.arange(position, min(position + size, total), dtype=np.float32)
            assert ring.wait_for_space(len(samples), timeout=10)
            ring.write(samples)
            position += len(samples)
        ring.close()

    producer = threading.Thread(target=produce)
    producer.start()
    end, windows = width, 0
    while True:
        if not ring.wait_for(end, timeout=10):
            assert ring.closed
            break
        window = ring.read(end, width)
        np.testing.assert_array_equal(window, np.arange(end - width, end, dtype=np.float32))
        windows += 1
        end += hop
        ring.release(end - width)
    producer.join()
    assert windows == (total - width) // hop + 1  # every hop, none skipped
    assert ring.written == total


def _exact(positions: np.ndarray) -> np.ndarray:
    """Sample positions as float32 values that stay exact (below 2**24) however long it runs."""
    return (positions % 2**20).astype(np.float32)


def test_free_running_producer_never_waits_and_reads_are_never_torn():
    """A microphone (never waits) against a slow reader: reads of the newest window are
    always contiguous, recent audio; the producer is never held up."""
    ring = RingBuffer(4_096)
    stop = threading.Event()
    longest_write = [0.0]

    def produce():
        position = 0
        while not stop.is_set():
            block = _exact(np.arange(position, position + 97))
            began = time.perf_counter()
            ring.write(block)
            longest_write[0] = max(longest_write[0], time.perf_counter() - began)
            position += 97

    producer = threading.Thread(target=produce)
    producer.start()
    reads = 0
    deadline = time.monotonic() + 10.0  # under load most reads are overwritten: keep trying
    while reads <= 10 and time.monotonic() < deadline:
        end = ring.written
        if end < 1_000:
            continue
        try:
            window = ring.read(end, 1_000)
        except OverwrittenError:
            continue
        np.testing.assert_array_equal(window, _exact(np.arange(end - 1_000, end)))
        reads += 1
        time.sleep(0.001)
    stop.set()
    producer.join()
    assert reads > 10
    assert ring.written > 4_096 * 10  # it wrapped many times while the reader was slow
    assert longest_write[0] < 0.1


def test_write_times_tell_when_a_sample_arrived():
    ring = RingBuffer(100)
    assert ring.written_at(1) is None
    ring.write(np.zeros(10, np.float32))
    first = time.monotonic()
    time.sleep(0.02)
    ring.write(np.zeros(10, np.float32))
    assert ring.written_at(5) <= first < ring.written_at(15)
    assert ring.written_at(10) == ring.written_at(1)
    assert ring.written_at(21) is None


def test_waiting_for_space_times_out_until_the_reader_releases():
    ring = RingBuffer(10)
    ring.write(np.zeros(8, np.float32))
    assert not ring.wait_for_space(5, timeout=0.01)
    ring.release(5)
    assert ring.wait_for_space(5, timeout=0.01)
    ring.close()
    assert not ring.wait_for(100, timeout=1)  # closed: returns at once, not there
