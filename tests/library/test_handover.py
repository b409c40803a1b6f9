"""A decoded song through a real socket pair, as a worker sends it and the scan takes it."""

import multiprocessing
import os
import threading

import numpy as np
import pytest

from emotrack.library import handover
from emotrack.library.decode import Decoded


@pytest.fixture(params=["memory file", "pickled"])
def mode(request, monkeypatch):
    if request.param == "memory file" and not handover.MEMORY_FILES:
        pytest.skip("no memfd_create here")
    if request.param == "pickled":
        monkeypatch.setattr(handover, "MEMORY_FILES", False)  # as on macOS
    return request.param


def _through(song: Decoded) -> Decoded:
    """``song`` sent from another thread (a pickled song fills the socket's buffer), received
    here."""
    ours, theirs = multiprocessing.Pipe()
    sender = threading.Thread(target=handover.send, args=(theirs, song), daemon=True)
    sender.start()
    try:
        return handover.receive(ours)
    finally:
        ours.close()  # a sender still writing (the receive failed) gets an error, not a wait
        sender.join(timeout=30)


def test_a_song_arrives_whole_with_its_samples(mode):
    samples = np.random.default_rng(0).standard_normal(3_000_000).astype(np.float32)  # 12 MB
    song = Decoded("a.mp3", 123, 456, "abc", samples, duration=187.5, flags=[(), ("silent",)])
    got = _through(song)
    np.testing.assert_array_equal(got.samples, samples)
    assert (got.path, got.size, got.mtime_ns, got.content_hash) == ("a.mp3", 123, 456, "abc")
    assert got.duration == 187.5 and got.flags == [(), ("silent",)]
    assert song.samples is samples  # the sender's song is left as it was


def test_songs_without_samples_and_many_in_a_row(mode):
    failed = Decoded("bad.mp3", error="bad.mp3: not audio")
    assert _through(failed) == failed
    for n in (80_000, 1, 160_000):
        got = _through(Decoded("s.wav", samples=np.arange(n, dtype=np.float32)))
        np.testing.assert_array_equal(got.samples, np.arange(n, dtype=np.float32))


def test_on_linux_the_samples_go_through_a_memory_file(monkeypatch):
    if not handover.MEMORY_FILES:
        pytest.skip("no memfd_create here")
    received = []

    def recv_handle(connection):
        received.append(handover_recv(connection))
        return received[-1]

    handover_recv = handover.recv_handle
    monkeypatch.setattr(handover, "recv_handle", recv_handle)
    samples = np.linspace(-1, 1, 5000, dtype=np.float32)
    np.testing.assert_array_equal(_through(Decoded("a.wav", samples=samples)).samples, samples)
    assert len(received) == 1  # one descriptor, and the song was not pickled with its samples


def test_writes_and_reads_in_pieces_still_give_the_whole_song(monkeypatch):
    if not handover.MEMORY_FILES:
        pytest.skip("no memfd_create here")
    write, preadv = os.write, os.preadv
    monkeypatch.setattr(os, "write", lambda fd, data: write(fd, data[:1000]))
    monkeypatch.setattr(os, "preadv", lambda fd, buffers, at: preadv(fd, [buffers[0][:999]], at))
    samples = np.arange(10_000, dtype=np.float32)
    np.testing.assert_array_equal(_through(Decoded("a.wav", samples=samples)).samples, samples)


def test_without_memory_files_the_song_is_pickled(monkeypatch):
    def refuse(*args):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(os, "memfd_create", refuse, raising=False)
    samples = np.ones(70_000, np.float32)
    np.testing.assert_array_equal(_through(Decoded("a.wav", samples=samples)).samples, samples)


def test_a_song_whose_memory_file_never_comes_is_an_error(monkeypatch):
    monkeypatch.setattr(handover, "HANDLE_WAIT_S", 0.1)
    ours, theirs = multiprocessing.Pipe()
    theirs.send(handover._InMemoryFile(Decoded("a.wav"), 10))  # alive, but no descriptor
    with pytest.raises(OSError, match="no memory file came"):
        handover.receive(ours)


def test_a_worker_gone_before_its_samples_is_an_end_of_file():
    if not handover.MEMORY_FILES:
        pytest.skip("no memfd_create here")
    ours, theirs = multiprocessing.Pipe()
    theirs.send(handover._InMemoryFile(Decoded("a.wav"), 10))  # killed before the descriptor
    theirs.close()
    with pytest.raises((EOFError, OSError)):
        handover.receive(ours)


def test_no_descriptor_is_left_open(mode):
    ours, theirs = multiprocessing.Pipe()  # small songs: both ends in one thread
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(50):
        handover.send(theirs, Decoded("s.wav", samples=np.ones(1000, np.float32)))
        handover.receive(ours)
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before
