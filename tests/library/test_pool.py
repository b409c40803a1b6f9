"""The decoding pool: real worker processes that decode without torch; a worker that dies on
a file, or hangs on one, costs that file only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from emotrack.library import handover
from emotrack.library.decode import Task
from emotrack.library.pool import DecodePool
from emotrack.models.audio import SAMPLE_RATE, load_audio

from .conftest import write_song


def test_workers_decode_songs_as_load_audio_does(tmp_path):
    songs = [write_song(tmp_path / f"{i}.flac", 6.0 + i, 300.0 + 50 * i) for i in range(4)]
    with DecodePool(2) as pool:
        results = {r.path: r for r in pool.run([Task(str(p)) for p in songs])}
    assert sorted(results) == sorted(map(str, songs))
    for path in songs:
        result = results[str(path)]
        assert result.error is None and result.size == path.stat().st_size
        np.testing.assert_array_equal(result.samples, load_audio(path))
        assert result.duration == len(result.samples) / SAMPLE_RATE


def test_a_known_hash_means_no_decoding(tmp_path):
    song = write_song(tmp_path / "a.wav", 6.0)
    with DecodePool(1) as pool:
        (first,) = pool.run([Task(str(song))])
        (again,) = pool.run([Task(str(song), first.content_hash)])
    assert again.unchanged and again.samples is None and again.content_hash == first.content_hash


def test_workers_never_import_torch():
    code = (
        "import sys; from emotrack.library.decode import decode; "
        "from emotrack.library.pool import serve; print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_a_worker_that_dies_on_a_file_costs_that_file_only(tmp_path):
    fifo = tmp_path / "stuck.wav"
    os.mkfifo(fifo)  # opening it blocks: the worker sits on this file until it is killed
    songs = [write_song(tmp_path / f"{i}.wav", 6.0) for i in range(3)]
    pool = DecodePool(2)
    killer = threading.Thread(target=_kill_worker_on, args=(pool, fifo))
    killer.start()
    try:
        results = {r.path: r for r in pool.run([Task(str(fifo))] + [Task(str(p)) for p in songs])}
    finally:
        killer.join()
        pool.close()
    assert "the decoder crashed on this file (signal 9)" in results[str(fifo)].error
    assert all(results[str(p)].error is None for p in songs)


def test_a_file_that_takes_too_long_is_stopped_and_reported(tmp_path):
    fifo = tmp_path / "stuck.wav"
    os.mkfifo(fifo)
    song = write_song(tmp_path / "fine.wav", 6.0)
    with DecodePool(1, timeout_s=2.0) as pool:
        began = time.monotonic()
        results = {r.path: r for r in pool.run([Task(str(fifo)), Task(str(song))])}
    assert "decoding took over 2 s and was stopped" in results[str(fifo)].error
    assert results[str(song)].error is None
    assert time.monotonic() - began < 30


def _kill_worker_on(pool: DecodePool, fifo) -> None:
    """SIGKILL the worker busy with ``fifo`` (as a decoder crash would end it)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for worker in list(pool._workers):
            task = worker.task
            if task is not None and task.path == str(fifo):
                time.sleep(0.3)  # well inside the file by now
                os.kill(worker.process.pid, signal.SIGKILL)
                return
        time.sleep(0.02)


def test_a_song_that_cannot_be_taken_from_its_worker_fails_alone(tmp_path, monkeypatch):
    if not handover.MEMORY_FILES:
        pytest.skip("no memfd_create here: songs are pickled")

    def refused(connection):  # as when this process is out of descriptors
        raise RuntimeError("received 0 items of ancdata")

    monkeypatch.setattr(handover, "recv_handle", refused)  # this process only, not the workers
    songs = [write_song(tmp_path / f"{i}.wav", 6.0) for i in range(3)]
    with DecodePool(2) as pool:
        results = list(pool.run([Task(str(p)) for p in songs]))
    assert sorted(r.path for r in results) == sorted(map(str, songs))
    for result in results:
        assert "could not take the decoded song from its decoding process" in result.error
        assert "no memory file came with the song" in result.error
