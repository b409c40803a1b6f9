"""Audio sources: a file streamed from disk, or the microphone. Both fill a RingBuffer with
16 kHz mono float32 audio from their own thread and report a :class:`SourceStatus`.

A file is read in blocks (never whole), resampled block-wise and paced in real time, by
playback through the output device when there is one (else by the clock), or read as fast as
the tracker can take it. The microphone is opened at its native rate through PortAudio.
"""

from __future__ import annotations

import math
import platform
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotrack.models.audio import (
    SAMPLE_RATE,
    WINDOW_SECONDS,
    AudioError,
    StreamResampler,
    to_mono,
)
from emotrack.models.decode import AudioReader
from emotrack.models.errors import UserError, one_line
from emotrack.tracker.ring import RingBuffer

REALTIME_BLOCK_SECONDS = 0.05  # file block when paced: small, so audio arrives smoothly
FAST_BLOCK_SECONDS = 1.0  # file block when read as fast as possible
FAST_PIECE = 4096  # ...written to the ring in pieces this small (ring: window + this)
LEVEL_SECONDS = 0.3  # time constant of the level meter
SILENCE_DB = -120.0  # level meter floor
MIC_TIMEOUT_SECONDS = 2.0  # no audio for this long from a running microphone is an error
MIC_START_SECONDS = 5.0  # ...and this long for the first audio after opening it


@dataclass
class SourceStatus:
    """What the UI shows about the audio coming in."""

    kind: str  # "file" or "microphone"
    name: str
    position_s: float  # audio read so far, seconds
    duration_s: float | None  # files only
    level_db: float  # RMS dBFS of recent audio (SILENCE_DB when silent)
    overflows: int  # microphone input overflows (audio lost before we got it)
    error: str | None  # what went wrong, None when all is well
    finished: bool  # no more audio will come
    paused: bool
    note: str = ""  # e.g. how a file is paced


class _Level:
    """RMS level meter with an exponential time constant."""

    def __init__(self) -> None:
        self._mean_square = 0.0

    def update(self, samples: np.ndarray) -> None:
        if len(samples) == 0:
            return
        weight = 1.0 - math.exp(-len(samples) / (SAMPLE_RATE * LEVEL_SECONDS))
        block = float(np.mean(np.square(samples, dtype=np.float64)))
        self._mean_square += weight * (block - self._mean_square)

    @property
    def db(self) -> float:
        if self._mean_square <= 10 ** (SILENCE_DB / 10):
            return SILENCE_DB
        return 10.0 * math.log10(self._mean_square)


class NonFiniteSpans:
    """Where a source's audio held NaN or inf (replaced by silence before resampling): merged
    spans of 16 kHz sample positions, so the tracker can flag the windows that hold them."""

    MERGE = SAMPLE_RATE // 10  # spans closer than 0.1 s are one

    def __init__(self) -> None:
        self._spans: list[list[int]] = []
        self._lock = threading.Lock()

    def record(self, data: np.ndarray, first_frame: int, rate: int) -> None:
        """``data`` (frames, channels) starts at ``first_frame`` of audio at ``rate``."""
        bad = ~np.isfinite(data).reshape(len(data), -1).all(axis=1)
        if not bad.any():
            return
        index = np.flatnonzero(bad)
        breaks = np.flatnonzero(np.diff(index) > 1)
        starts = np.r_[index[0], index[breaks + 1]]
        ends = np.r_[index[breaks], index[-1]] + 1
        scale = SAMPLE_RATE / rate
        with self._lock:
            for a, b in zip(starts, ends, strict=True):
                span = [int((first_frame + a) * scale), int(np.ceil((first_frame + b) * scale))]
                if self._spans and span[0] - self._spans[-1][1] <= self.MERGE:
                    self._spans[-1][1] = max(self._spans[-1][1], span[1])
                else:
                    self._spans.append(span)

    def overlaps(self, start: int, end: int) -> bool:
        """Whether 16 kHz samples ``start..end`` held any NaN or inf."""
        with self._lock:
            return any(a < end and start < b for a, b in self._spans)


class Source:
    """Common control of a source thread: start, pause/resume, stop, status."""

    kind = "source"
    realtime = True  # True: audio arrives at its own pace; the tracker drops windows if late

    def __init__(self, name: str) -> None:
        self.name = name
        self._ring: RingBuffer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._finished = threading.Event()
        self._level = _Level()
        self._position = 0.0
        self._overflows = 0
        self._error: str | None = None
        self.note = ""
        self.non_finite = NonFiniteSpans()

    def start(self, ring: RingBuffer) -> None:
        """Begin filling ``ring`` from a new thread."""
        self._ring = ring
        self._thread = threading.Thread(target=self._guarded, name=f"emotrack-{self.kind}")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread; what was written stays in the ring."""
        self._stopping.set()
        self._running.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def duration_s(self) -> float | None:
        return None

    def problems(self) -> list[str]:
        """What the source survived (e.g. damaged data skipped); empty when all is clean."""
        return []

    def status(self) -> SourceStatus:
        return SourceStatus(
            kind=self.kind,
            name=self.name,
            position_s=self._position,
            duration_s=self.duration_s,
            level_db=self._level.db,
            overflows=self._overflows,
            error=self._error,
            finished=self.finished,
            paused=self.paused,
            note=self.note,
        )

    def _guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # reported in the status; the tracker keeps what it has
            if self._error is None:
                self._error = f"{self.name}: {one_line(exc)}"
        finally:
            self._finished.set()
            if self._ring is not None:
                self._ring.close()

    def _run(self) -> None:
        raise NotImplementedError


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
        output = _open_output(self.rate, channels) if self.play else None
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

    def _play(self, output: _Output, data: np.ndarray) -> _Output | None:
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

    def _wait_paused(self, output: _Output | None) -> float:
        """Block while paused; returns the seconds spent (to shift the pacing clock)."""
        began = time.monotonic()
        if output is not None:
            output.pause()
        while not self._running.wait(timeout=0.1) and not self._stopping.is_set():
            pass
        if output is not None:
            output.resume()
        return time.monotonic() - began


class MicSource(Source):
    """The microphone (``device``: index, name or part of it; None = default input), at its
    native rate, resampled to 16 kHz. ``duration_s`` stops it after that much audio."""

    kind = "microphone"
    realtime = True

    def __init__(self, device: int | str | None = None, duration_s: float | None = None) -> None:
        sd = _sounddevice()
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


# ---------------------------------------------------------------------------- devices


def _sounddevice():
    """The sounddevice module, or UserError naming the missing PortAudio library."""
    try:
        import sounddevice
    except (OSError, ImportError):
        raise UserError(
            "audio devices need the PortAudio library, which is not installed; "
            "install it (Debian/Ubuntu: apt-get install libportaudio2) or track files instead"
        ) from None
    return sounddevice


def list_devices() -> list[dict]:
    """Every audio device PortAudio sees: index, name, inputs, outputs, default rate, default."""
    sd = _sounddevice()
    default_in, default_out = sd.default.device
    return [
        {
            "index": index,
            "name": info["name"],
            "inputs": info["max_input_channels"],
            "outputs": info["max_output_channels"],
            "rate": int(round(info["default_samplerate"])),
            "default_input": index == default_in,
            "default_output": index == default_out,
        }
        for index, info in enumerate(sd.query_devices())
    ]


def how_to_get_input(system: str | None = None) -> str:
    """How to give PortAudio an input device on this kind of system."""
    system = system or platform.system()
    if system == "Linux":
        return (
            "plug one in, then make sure a sound server runs (PulseAudio: `pulseaudio --start`; "
            "PipeWire: `systemctl --user start pipewire pipewire-pulse`) with ALSA's pulse "
            "plugin installed (Debian/Ubuntu: apt-get install libasound2-plugins), or that ALSA "
            "lists a capture device (`arecord -l`); in a container, pass the host's sound "
            "server or /dev/snd in; then `emotrack live --list-devices`"
        )
    if system == "Darwin":
        return (
            "plug one in and allow your terminal to use it (System Settings > Privacy & "
            "Security > Microphone); then `emotrack live --list-devices`"
        )
    if system == "Windows":
        return (
            "plug one in and allow desktop apps to use it (Settings > Privacy & security > "
            "Microphone); then `emotrack live --list-devices`"
        )
    return "plug one in; then `emotrack live --list-devices`"


def resolve_input_device(device: int | str | None) -> tuple[int, dict]:
    """Index and PortAudio info of an input device (None: the default input), or UserError."""
    sd = _sounddevice()
    hint = "list them with `emotrack live --list-devices`"
    inputs = [d for d in list_devices() if d["inputs"] > 0]
    if not inputs:
        raise UserError(
            f"no microphone found: PortAudio sees no input device; {how_to_get_input()}"
        )
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    if device is None:
        default = next((d for d in inputs if d["default_input"]), inputs[0])
        device = default["index"]
    elif isinstance(device, str):
        matches = [d for d in inputs if device.lower() in d["name"].lower()]
        if len(matches) != 1:
            found = "no" if not matches else "several"
            raise UserError(f"{found} input device matches {device!r}; {hint}")
        device = matches[0]["index"]
    if device not in {d["index"] for d in inputs}:
        raise UserError(f"no input device {device}; {hint}")
    return device, sd.query_devices(device)


class _Output:
    """Blocking playback of a file's blocks, at the file's own rate."""

    def __init__(self, stream, channels: int, device_name: str) -> None:
        self._stream, self.channels, self.device_name = stream, channels, device_name

    def write(self, data: np.ndarray) -> None:
        if data.shape[1] != self.channels:
            data = to_mono(data)[:, None]
        self._stream.write(np.clip(data, -1.0, 1.0))

    def pause(self) -> None:
        self._stream.stop()

    def resume(self) -> None:
        self._stream.start()

    def close(self) -> None:
        try:
            self._stream.close()
        except Exception:  # the device may already be gone; nothing left to release
            pass


def _open_output(rate: int, channels: int) -> _Output | None:
    """Playback stream on the default output device, or None when there is none."""
    try:
        sd = _sounddevice()
        device = sd.default.device[1]
        if device is None or device < 0:
            return None
        name = sd.query_devices(device)["name"]
        stream = sd.OutputStream(samplerate=rate, channels=channels, dtype="float32")
        stream.start()
    except Exception:  # no device, or it refuses this rate: pace by the clock instead
        return None
    return _Output(stream, channels, name)
