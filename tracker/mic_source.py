"""The microphone as an audio source: opened at its native rate through PortAudio, resampled
to 16 kHz; a device that stops delivering audio is reported, what was tracked is kept."""

from __future__ import annotations

import queue
import time

import numpy as np

from emotrack.models.audio import StreamResampler
from emotrack.models.errors import UserError, one_line
from emotrack.tracker.audio_devices import resolve_input_device, sounddevice_module
from emotrack.tracker.ring import RingBuffer
from emotrack.tracker.sources import Source

MIC_TIMEOUT_SECONDS = 2.0  # no audio for this long from a running microphone is an error
MIC_START_SECONDS = 5.0  # ...and this long for the first audio after opening it


class MicSource(Source):
    """The microphone (``device``: index, name or part of it; None = default input), at its
    native rate, resampled to 16 kHz. ``duration_s`` stops it after that much audio."""

    kind = "microphone"
    realtime = True

    def __init__(self, device: int | str | None = None, duration_s: float | None = None) -> None:
        sd = sounddevice_module()
        self.device, info = resolve_input_device(device)
        super().__init__(f"{info['name']} (device {self.device})")
        self.rate = int(round(info["default_samplerate"]))
        self.max_seconds = duration_s
        self._blocks: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._sd = sd
        self._stream = None
        self._last_audio = time.monotonic()
        self._heard = False

    def start(self, ring: RingBuffer) -> None:
        """Open the input stream (UserError if the device refuses) and start the thread."""
        try:
            self._stream = self._sd.InputStream(
                device=self.device,
                samplerate=self.rate,
                channels=1,
                dtype="float32",
                callback=self._callback,
                finished_callback=self._stream_finished,
            )
            self._stream.start()
        except Exception as exc:
            if self._stream is not None:
                self._stream.close()
            raise UserError(
                f"microphone {self.name}: cannot open it at {self.rate} Hz ({one_line(exc)}); "
                "check that it is plugged in and not used by another program, or pick another "
                "with --device (see --list-devices)"
            ) from None
        self._last_audio = time.monotonic()
        self.note = f"{self.rate} Hz"
        super().start(ring)

    def stop(self) -> None:
        self._stopping.set()
        super().stop()
        self._close_stream()

    def _callback(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        """PortAudio's thread: count overflows and hand the block on; never waits."""
        if status.input_overflow:
            self._overflows += 1
        if self._running.is_set():
            self._blocks.put(indata[:, 0].copy())

    def _stream_finished(self) -> None:
        if not self._stopping.is_set() and self._error is None:
            self._error = (
                f"microphone {self.name} stopped delivering audio (unplugged, or taken by "
                "another program?); what was tracked so far is kept"
            )

    def _run(self) -> None:
        resampler = StreamResampler(self.rate)
        done = 0
        limit = None if self.max_seconds is None else int(self.max_seconds * self.rate)
        try:
            while not self._stopping.is_set() and self._error is None:
                try:
                    block = self._blocks.get(timeout=0.1)
                except queue.Empty:
                    self._check_alive()
                    continue
                self._last_audio = time.monotonic()
                self._heard = True
                if limit is not None:
                    block = block[: limit - done]
                done += len(block)
                mono = resampler(block, last=limit is not None and done >= limit)
                self._ring.write(mono)
                self._level.update(mono)
                self._position = done / self.rate
                if limit is not None and done >= limit:
                    break
        finally:
            self._stopping.set()
            self._close_stream()

    def _check_alive(self) -> None:
        limit = MIC_TIMEOUT_SECONDS if self._heard else MIC_START_SECONDS
        if not self._running.is_set():
            self._last_audio = time.monotonic()
        elif time.monotonic() - self._last_audio > limit and self._error is None:
            self._error = (
                f"microphone {self.name}: no audio for {limit:g} s (unplugged, or muted by the "
                "system?); what was tracked so far is kept"
            )

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # the device may already be gone; nothing left to release
                pass
