"""Audio that is not music, named: per-window flags (silent, near-silent, NaN/inf, clipped) and
a warning when the audio's bandwidth is far below what models are trained on.

A window flagged silent, near-silent or non-finite gets no mood and stays out of the song's
summary (its values are what the model said about noise, not music); a clipped window is
still music, flagged.
"""

from __future__ import annotations

import numpy as np

from emotrack.models.audio import F_MAX, SAMPLE_RATE

SILENT_DB = -70.0  # window RMS below this: silence
NEAR_SILENT_DB = -50.0  # ...below this: near silence (room noise, a fade's tail)
CLIP_LEVEL = 0.99  # flat tops at or above this level...
CLIP_FLAT = 1e-3  # ...(neighbours this close: cut off, not a curved peak)...
CLIP_SHARE = 0.01  # ...in this share of a window's samples: clipped
NOT_MUSIC = ("silent", "near-silent", "non-finite")  # flags that take a window out
FLAGS = (*NOT_MUSIC, "clipped")
BANDWIDTH_DB = 50.0  # the bandwidth reaches up to where the spectrum is this far below its peak
BANDWIDTH_SHARE = 0.6  # warn below this share of the trained bandwidth (F_MAX)
BANDWIDTH_EVERY = 8  # the spectrum is taken of every 8th window...
BANDWIDTH_SAMPLES = 16_384  # ...of its middle 1 s (a power of two: a fast FFT)


def window_flags(window: np.ndarray, non_finite: bool = False) -> tuple[str, ...]:
    """Flags of one 16 kHz window (NaN/inf already replaced by 0; ``non_finite`` says there
    were some)."""
    if non_finite:
        return ("non-finite",)
    rms = float(np.sqrt(np.mean(np.square(window, dtype=np.float64))))
    db = 20.0 * np.log10(rms) if rms > 0 else -np.inf
    if db < SILENT_DB:
        return ("silent",)
    if db < NEAR_SILENT_DB:
        return ("near-silent",)
    if clipped_share(window) >= CLIP_SHARE:
        return ("clipped",)
    return ()


def clipped_share(window: np.ndarray) -> float:
    """Share of samples on flat tops at full scale: three or more neighbours at |x| >=
    CLIP_LEVEL within CLIP_FLAT of each other (a loud sine's curved peak is not one)."""
    high = np.abs(window) >= CLIP_LEVEL
    flat = np.abs(np.diff(window)) <= CLIP_FLAT
    pair = high[1:] & high[:-1] & flat  # sample i and i+1 are one flat top
    run = pair[1:] & pair[:-1]  # samples i, i+1, i+2
    return float(run.sum()) / max(len(window), 1)


def is_music(flags: tuple[str, ...]) -> bool:
    return not any(flag in NOT_MUSIC for flag in flags)


class BandwidthMeter:
    """The mean power spectrum of some windows of music, and from it the audio's bandwidth."""

    def __init__(self) -> None:
        self._sum: np.ndarray | None = None
        self._seen = 0

    def add(self, window: np.ndarray) -> None:
        self._seen += 1
        if self._seen % BANDWIDTH_EVERY != 1:
            return
        start = max((len(window) - BANDWIDTH_SAMPLES) // 2, 0)
        piece = window[start : start + BANDWIDTH_SAMPLES]
        power = np.abs(np.fft.rfft(piece * np.hanning(len(piece)))) ** 2
        self._sum = power if self._sum is None else self._sum + power

    def bandwidth_hz(self) -> float | None:
        """Highest frequency within BANDWIDTH_DB of the spectrum's peak (None: no music)."""
        if self._sum is None or not self._sum.any():
            return None
        bins = 64  # smoothed into bands of 125 Hz
        band = self._sum[: len(self._sum) // bins * bins].reshape(bins, -1).mean(axis=1)
        db = 10.0 * np.log10(np.maximum(band, 1e-30))
        loud = np.flatnonzero(db >= db.max() - BANDWIDTH_DB)
        return float((loud[-1] + 1) * (SAMPLE_RATE / 2) / bins)

    def warning(self, source_rate: int | None = None) -> str | None:
        """A line when the audio holds far less bandwidth than the model was trained on."""
        limit = BANDWIDTH_SHARE * F_MAX
        if source_rate is not None and source_rate / 2 < limit:
            heard = source_rate / 2
        else:
            heard = self.bandwidth_hz()
            if heard is None or heard >= limit:
                return None
        return (
            f"low bandwidth: the audio holds nothing above about {heard / 1000:.1f} kHz (the "
            f"model was trained on audio up to {F_MAX / 1000:.0f} kHz), so its values may be off"
        )
