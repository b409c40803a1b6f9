"""A decoded song from a worker process to the scan, over the worker's connection.

Pickled, a song's samples (1.9 MB for 30 s at 16 kHz) go through the connection's socket in
pieces of about 200 kB, and the receiving thread must take Python's GIL back after each: behind
a busy thread it may wait a switch interval each time (a micro-benchmark on two cores took in
21 songs a second this way beside one busy Python thread, 138 with memory files). Where the
system has anonymous memory files (``memfd``: Linux), the worker instead writes the samples
into one and passes its descriptor after the rest of the song; the scan reads them back in one
call. The memory is freed with the last descriptor, so a killed process leaves nothing behind.
Elsewhere, or if the memory file cannot be made, the song is pickled whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle

import numpy as np

from emotrack.library.decode import Decoded

MEMORY_FILES = hasattr(os, "memfd_create")
HANDLE_WAIT_S = 10.0  # a descriptor that has not followed its song by then will not


@dataclass
class _InMemoryFile:
    """A song whose float32 samples (``count`` of them) follow as a file descriptor."""

    decoded: Decoded
    count: int


def send(connection: Connection, decoded: Decoded) -> None:
    """Send ``decoded`` (worker side); its samples through a memory file where there are
    memory files."""
    samples = decoded.samples
    fd = _memory_file(samples) if samples is not None and MEMORY_FILES else None
    if fd is None:
        connection.send(decoded)
        return
    try:
        connection.send(_InMemoryFile(replace(decoded, samples=None), samples.size))
        send_handle(connection, fd, 0)  # the process id is used only on Windows
    finally:
        os.close(fd)


def receive(connection: Connection) -> Decoded:
    """The next song sent by :func:`send` (scan side). EOFError or OSError when the worker
    went away before the song was whole, or its memory file did not come."""
    message = connection.recv()
    if not isinstance(message, _InMemoryFile):
        return message
    if not connection.poll(HANDLE_WAIT_S):  # the worker sends it right after the song
        raise OSError(f"no memory file came with the song within {HANDLE_WAIT_S:g} s")
    try:
        fd = recv_handle(connection)
    except (RuntimeError, AssertionError) as exc:  # multiprocessing's own: no descriptor came
        raise OSError(f"no memory file came with the song ({exc})") from None
    try:
        samples = np.empty(message.count, np.float32)
        _read_into(fd, memoryview(samples).cast("B"))
    finally:
        os.close(fd)
    message.decoded.samples = samples
    return message.decoded


def _memory_file(samples: np.ndarray) -> int | None:
    """A memory file holding ``samples``' bytes; None if one cannot be made (then pickle)."""
    try:
        fd = os.memfd_create("emotrack-song", os.MFD_CLOEXEC)
    except OSError:
        return None
    try:
        data = memoryview(np.ascontiguousarray(samples, np.float32)).cast("B")
        while data:  # one write unless the song is over 2 GB
            data = data[os.write(fd, data) :]
    except OSError:
        os.close(fd)
        return None
    return fd


def _read_into(fd: int, target: memoryview) -> None:
    done = 0
    while done < len(target):
        got = os.preadv(fd, [target[done:]], done)
        if got == 0:
            raise EOFError("the song's memory file ended early")
        done += got
