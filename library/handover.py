"""A decoded song from a worker process to the scan, through the worker's socket pair.

Pickled, a song's samples (1.9 MB for 30 s at 16 kHz) go through the socket in 200 kB
pieces, and the receiving thread takes Python's GIL back after each one: behind the scan's
busy threads it waits up to a switch interval (5 ms) every time, which made a few hundred
songs a second the most the whole scan could take in. On Linux the worker instead writes the
samples into an anonymous memory file (``memfd``) and passes its descriptor along with the
rest of the song; the scan reads them back in one call. The memory is freed with the last
descriptor, so a killed process leaves nothing behind. Elsewhere, or if the memory file
cannot be made, the song is pickled whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle

import numpy as np

from emotrack.library.decode import Decoded

MEMORY_FILES = hasattr(os, "memfd_create")


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
        connection.send(_InMemoryFile(replace(decoded, samples=None), len(samples)))
        send_handle(connection, fd, 0)  # the process id is used only on Windows
    finally:
        os.close(fd)


def receive(connection: Connection) -> Decoded:
    """The next song sent by :func:`send` (scan side). EOFError or OSError when the worker
    went away before it was whole."""
    message = connection.recv()
    if not isinstance(message, _InMemoryFile):
        return message
    fd = recv_handle(connection)
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
