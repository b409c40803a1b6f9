"""What a scan's worker process does with one song: hash it, decode it to 16 kHz mono, and
flag its windows (silent, clipped, ... as the tracker does).

Runs in worker processes that import numpy, soundfile and soxr (through
``emotrack.models.audio``), never torch. The 5 s windows are cut later, in the process that
runs the model, from these samples: a song's samples are a tenth of the size of its windows
at a 0.5 s step, so less goes between processes. Their flags are worked out here, where the
cores are many, not in that one process.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from emotrack.library.identity import content_hash
from emotrack.models.audio import (
    MEL_IMAGE,
    SAMPLE_RATE,
    WINDOW_SECONDS,
    AudioError,
    load_audio,
    window_starts,
)
from emotrack.tracker.quality import flags_of_windows


@dataclass(frozen=True)
class Task:
    """A song to decode. ``known_hash``: the content hash the database holds for this path
    and model; a file whose content still has it is not decoded again."""

    path: str
    known_hash: str | None = None
    step_seconds: float | None = None  # flag the windows of this step (None: leave it)


@dataclass
class Decoded:
    """A decoded song (``samples``), a file whose content is unchanged (``unchanged``), or a
    failure (``error``, one line naming the file, the problem and the fix)."""

    path: str
    size: int = 0
    mtime_ns: int = 0
    content_hash: str | None = None
    samples: np.ndarray | None = None  # 16 kHz mono float32
    error: str | None = None
    unchanged: bool = False
    duration: float = 0.0  # seconds of decoded audio
    decode_seconds: float = 0.0
    flags: list[tuple[str, ...]] | None = None  # per window of the task's step


def decode(task: Task) -> Decoded:
    """Hash and decode one file; every problem is returned as ``error``, never raised."""
    began = time.perf_counter()
    path = task.path
    try:
        info = os.stat(path)
        digest = content_hash(path)
    except OSError as exc:
        return Decoded(path, error=f"{path}: cannot read the file ({exc.strerror}); check it")
    result = Decoded(path, info.st_size, info.st_mtime_ns, digest)
    if digest == task.known_hash:
        result.unchanged = True
    elif info.st_size == 0:
        result.error = f"{path}: empty file (0 bytes); replace it with the whole song"
    else:
        try:
            samples = load_audio(path)
        except AudioError as exc:
            result.error = str(exc)
        except Exception as exc:  # a decoder's own failure: still one line, still this file
            result.error = f"{path}: decoding failed ({type(exc).__name__}: {exc}); is it audio?"
        else:
            result.error = _too_short(path, len(samples))
            if result.error is None:
                result.samples, result.duration = samples, len(samples) / SAMPLE_RATE
                if task.step_seconds is not None:
                    result.flags = song_flags(samples, task.step_seconds)
    result.decode_seconds = time.perf_counter() - began
    return result


def song_flags(samples: np.ndarray, step_seconds: float) -> list[tuple[str, ...]]:
    """The tracker's flags of every window a scan at this step cuts from ``samples`` (a song
    shorter than a window zero-padded, as the window is cut)."""
    starts = window_starts(len(samples), MEL_IMAGE, step_seconds=step_seconds)
    width = MEL_IMAGE.window_samples
    if len(samples) < width:
        samples = np.pad(samples, (0, width - len(samples)))
    return flags_of_windows(samples, starts, width)


def _too_short(path: str, samples: int) -> str | None:
    """The tracker's rule: a song shorter than one window has no value (as `emotrack file`)."""
    if samples >= int(round(WINDOW_SECONDS * SAMPLE_RATE)):
        return None
    return (
        f"{path}: only {samples / SAMPLE_RATE:.2f} s of audio; tracking needs at least "
        f"{WINDOW_SECONDS:g} s (one window); use a longer recording"
    )
