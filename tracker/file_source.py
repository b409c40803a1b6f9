"""A file as an audio source: read in blocks (never whole), resampled block-wise and paced in
real time, by playback through the output device when there is one (else by the clock), or read
as fast as the tracker can take it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from emotrack.models.audio import WINDOW_SECONDS, AudioError, StreamResampler
from emotrack.models.decode import AudioReader
from emotrack.models.errors import one_line
from emotrack.tracker.audio_devices import Output, open_output
from emotrack.tracker.ring import RingBuffer
from emotrack.tracker.sources import Source

REALTIME_BLOCK_SECONDS = 0.05  # file block when paced: small, so audio arrives smoothly
FAST_BLOCK_SECONDS = 1.0  # file block when read as fast as possible
FAST_PIECE = 4096  # ...written to the ring in pieces this small (ring: window + this)


class FileSource(Source):
    """Stream an audio file. ``realtime``: paced at playback speed (played aloud when ``play``
    and an output device exists, else paced by the clock); otherwise read as fast as the
    consumer releases ring space (no window is ever dropped)."""

    kind = "file"

    def __init__(
        self,
        path: str | Path,
        realtime: bool = True,
        play: bool = True,
        min_seconds: float = WINDOW_SECONDS,
    ) -> None:
        self.path = Path(path)
        super().__init__(self.path.name)
        self.reader = AudioReader(self.path)
        info = self.reader.info
        self.rate, self.channels, self.frames = info.samplerate, info.channels, info.frames
        if self.frames <= 0 and info.decoder == "libsndfile":
            raise AudioError(f"{self.path}: holds no audio samples; use a non-empty audio file")
        if 0 < self.frames and self.frames / self.rate < min_seconds:
            raise AudioError(
                f"{self.path}: only {self.frames / self.rate:.2f} s long; tracking needs at "
                f"least {min_seconds:g} s of audio (one window); use a longer file"
            )
        self.realtime = realtime
        self.play = play and realtime
        self.note = "" if realtime else "fast: read as fast as the model runs"

    @property
    def duration_s(self) -> float | None:
        return self.frames / self.rate if self.frames > 0 else None

    def problems(self) -> list[str]:
        """What decoding survived: damage skipped, truncation, a decoder hand-over."""
        return self.reader.report.problems()

    def _run(self) -> None:
        ring = self._ring
        resampler = StreamResampler(self.rate)
        channels = self.channels if self.channels <= 2 else 1  # more than stereo: play the mix
        output = open_output(self.rate, channels) if self.play else None
        if self.realtime:
            self.note = f"playing on {output.device_name}" if output else "paced by the clock"
        seconds = REALTIME_BLOCK_SECONDS if self.realtime else FAST_BLOCK_SECONDS
        block = max(1, int(self.rate * seconds))
        done = 0  # frames read
        clock = time.monotonic()
        blocks = self.reader.blocks(block)
        try:
            while not self._stopping.is_set():
                if not self._running.is_set():
                    clock += self._wait_paused(output)
                    continue
                data = next(blocks, None)
                if data is None:
                    break
                self.non_finite.record(data, done, self.rate)
                done += len(data)
                data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
                mono = resampler(data)
                if output is not None:
                    output = self._play(output, data)
                    if output is None:  # the clock takes over from here
                        clock = time.monotonic() - done / self.rate
                elif self.realtime:
                    time.sleep(max(0.0, clock + done / self.rate - time.monotonic()))
                self._put(ring, mono)
                self._position = done / self.rate
            if not self._stopping.is_set():
                self._put(ring, resampler(np.zeros((0, self.channels), np.float32), last=True))
        finally:
            blocks.close()
            if output is not None:
                output.close()

    def _play(self, output: Output, data: np.ndarray) -> Output | None:
        """Play a block (blocks until the sound card takes it: that paces the file). If the
        device fails, playback stops and the clock paces the rest (returns None)."""
        try:
            output.write(data)
            return output
        except Exception as exc:
            output.close()
            self.note = f"playback stopped ({one_line(exc)}); paced by the clock"
            return None

    def _put(self, ring: RingBuffer, mono: np.ndarray) -> None:
        if self.realtime:
            ring.write(mono)
        else:  # backpressure: a file can wait for the tracker, in pieces that always fit
            for start in range(0, len(mono), FAST_PIECE):
                piece = mono[start : start + FAST_PIECE]
                while not ring.wait_for_space(len(piece), timeout=0.1):
                    if self._stopping.is_set():
                        return
                ring.write(piece)
        self._level.update(mono)

    def _wait_paused(self, output: Output | None) -> float:
        """Block while paused; returns the seconds spent (to shift the pacing clock)."""
        began = time.monotonic()
        if output is not None:
            output.pause()
        while not self._running.wait(timeout=0.1) and not self._stopping.is_set():
            pass
        if output is not None:
            output.resume()
        return time.monotonic() - began
