"""The one audio front end: decode, resample, window and turn 5 s windows into model input.

Every audio parameter is defined here, once; this module needs numpy, soundfile, av and
soxr, not torch (decoding itself is :mod:`emotrack.models.decode`). The features a model
reads are computed from these parameters by
:class:`emotrack.models.frontend.FrontEnd`, which training (``emotrack.offline``) and tracking
(``emotrack.tracker``) both call. A checkpoint stores ``AudioConfig.to_dict()``; the tracker
refuses a model whose config differs from the one it would compute.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import soxr

from emotrack.models.decode import (  # noqa: F401 - audio_info, AudioInfo: used from here
    AudioInfo,
    audio_info,
    decode_audio,
    log_problems,
)
from emotrack.models.errors import AudioError, UserError  # noqa: F401 - AudioError's old home

SAMPLE_RATE = 16_000  # Hz, everything is resampled to this, mono
N_FFT = 2048
HOP_LENGTH = 512
WIN_LENGTH = 2048
N_MELS = 256
F_MIN = 0.0
F_MAX = 8_000.0  # Nyquist at 16 kHz
TOP_DB = 80.0  # dynamic range kept below each window's peak
WINDOW_SECONDS = 5.0  # one model input
TRACK_STEP_SECONDS = 0.5  # tracker: a new window every step (not the STFT's hop)
TRAIN_WINDOWS_PER_CLIP = 6  # seed: 6 evenly spaced windows per 45 s clip
IMAGE_SIZE = 224  # mel image resized to IMAGE_SIZE x IMAGE_SIZE
IMAGE_CHANNELS = 3  # repeated to look like an RGB image to ImageNet backbones
CNN_N_MELS = 64  # the small CNN's mel bands
AST_N_MELS = 128  # AST's mel bins, 25 ms windows, 10 ms hop
AST_N_FFT = 400
AST_HOP_LENGTH = 160
LOG_FLOOR = 1e-10  # power floor before log10
NORM_EPS = 1e-5

# what folders are searched for: every format libsndfile or FFmpeg (PyAV) decodes
AUDIO_EXTENSIONS = (
    ".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".aifc", ".caf", ".w64",
    ".m4a", ".m4b", ".mp4", ".aac", ".alac", ".wma", ".asf", ".webm", ".mka", ".mkv", ".mov",
    ".ac3", ".wv", ".ape", ".mpc",
)  # fmt: skip


@dataclass(frozen=True)
class AudioConfig:
    """What a model sees. ``representation`` is ``mel`` (log-mel image) or ``waveform``."""

    representation: str = "mel"
    sample_rate: int = SAMPLE_RATE
    window_seconds: float = WINDOW_SECONDS
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH
    win_length: int = WIN_LENGTH
    n_mels: int = N_MELS
    f_min: float = F_MIN
    f_max: float = F_MAX
    top_db: float = TOP_DB
    image_size: int | None = IMAGE_SIZE  # None keeps (n_mels, frames)
    image_channels: int = IMAGE_CHANNELS

    def __post_init__(self) -> None:
        if self.representation not in ("mel", "waveform"):
            raise ValueError(
                f"representation must be 'mel' or 'waveform', not {self.representation!r}"
            )

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def n_frames(self) -> int:
        """STFT frames in one window (centred STFT)."""
        return self.window_samples // self.hop_length + 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one window as the backbone receives it (no batch axis)."""
        if self.representation == "waveform":
            return (self.window_samples,)
        if self.image_size is None:
            return (self.image_channels, self.n_mels, self.n_frames)
        return (self.image_channels, self.image_size, self.image_size)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AudioConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown audio parameters {sorted(unknown)}")
        return cls(**data)

    def key(self) -> str:
        """Short stable hash: cache folders are keyed by it."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def differences(self, other: AudioConfig) -> list[str]:
        """Human-readable list of parameters that differ (empty when equal)."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{k}: {mine[k]!r} != {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]


MEL_IMAGE = AudioConfig()  # MambaVision (the seed)
CNN_MEL = AudioConfig(n_mels=CNN_N_MELS, image_size=None, image_channels=1)
AST_MEL = replace(
    CNN_MEL, n_mels=AST_N_MELS, n_fft=AST_N_FFT, win_length=AST_N_FFT, hop_length=AST_HOP_LENGTH
)
WAVEFORM = AudioConfig(representation="waveform")


# ---------------------------------------------------------------------------- decoding


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) or (frames,) -> (frames,) float32, channels averaged. Column by column:
    ``mean(axis=1)`` over the short, strided channel axis is 15x slower (30 ms per 30 s of
    stereo); for stereo the two give the same bits."""
    if samples.ndim == 2:
        channels = samples.shape[1]
        total = samples[:, 0].astype(np.result_type(samples.dtype, np.float32))
        for channel in range(1, channels):
            total += samples[:, channel]
        samples = total / channels
    return np.ascontiguousarray(samples, dtype=np.float32)


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Resample mono float32 audio (soxr, high quality)."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples, rate, target, quality="HQ").astype(np.float32, copy=False)


class StreamResampler:
    """Block-by-block resampler giving the same samples as :func:`resample` on the whole."""

    def __init__(self, rate: int, target: int = SAMPLE_RATE) -> None:
        self.rate, self.target = rate, target
        self._stream = (
            None if rate == target else soxr.ResampleStream(rate, target, 1, np.float32, "HQ")
        )

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        block = to_mono(block)
        if self._stream is None:
            return block
        return self._stream.resample_chunk(block, last=last)


def load_audio(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    offset_seconds: float = 0.0,
    duration_seconds: float | None = None,
) -> np.ndarray:
    """Decode any supported file (:mod:`emotrack.models.decode`) to mono float32 at
    ``sample_rate``. NaN/inf become 0; damage survived and truncation are logged."""
    samples, rate, report = decode_audio(path)
    log_problems(report)
    start = int(offset_seconds * rate)
    stop = None if duration_seconds is None else start + int(duration_seconds * rate)
    mono = to_mono(samples[start:stop])
    if not np.isfinite(mono).all():  # checked first: replacing costs 5x a check
        mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
    return resample(mono, rate, sample_rate)


# ---------------------------------------------------------------------------- windowing


def window_starts(
    n_samples: int,
    config: AudioConfig = MEL_IMAGE,
    step_seconds: float | None = None,
    count: int | None = None,
) -> np.ndarray:
    """Start samples of 5 s windows: ``count`` evenly spaced over the clip (training), or one
    every ``step_seconds`` (tracking). Audio shorter than a window gives one window at 0."""
    if (step_seconds is None) == (count is None):
        raise ValueError("give exactly one of step_seconds or count")
    last = max(n_samples - config.window_samples, 0)
    if count is not None:
        if count < 1:
            raise ValueError("count must be >= 1")
        return np.linspace(0, last, count).round().astype(np.int64)
    step = int(round(step_seconds * config.sample_rate))
    if step < 1:
        raise ValueError("step_seconds is too small")
    return np.arange(0, last + 1, step, dtype=np.int64)


def frame_windows(
    samples: np.ndarray,
    starts: np.ndarray,
    config: AudioConfig = MEL_IMAGE,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Cut (n_windows, window_samples) float32 from mono audio; zero-pads past the end.
    ``out``: an array of that shape to fill (e.g. part of a batch) instead of a new one."""
    width = config.window_samples
    need = int(starts.max(initial=0)) + width
    if len(samples) < need:
        samples = np.pad(samples, (0, need - len(samples)))
    if out is None:
        out = np.empty((len(starts), width), np.float32)
    for row, start in zip(out, starts.tolist(), strict=True):  # a copy per row: no index array
        row[:] = samples[start : start + width]
    return out
