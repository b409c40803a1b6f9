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
    return float(_flat_tops(window).sum()) / max(len(window), 1)


def _flat_tops(samples: np.ndarray) -> np.ndarray:
    """``run[i]``: samples i, i+1 and i+2 are one flat top at full scale."""
    high = np.abs(samples) >= CLIP_LEVEL
    flat = np.abs(np.diff(samples)) <= CLIP_FLAT
    pair = high[1:] & high[:-1] & flat  # sample i and i+1 are one flat top
    return pair[1:] & pair[:-1]


def flags_of_windows(samples: np.ndarray, starts: np.ndarray, width: int) -> list[tuple[str, ...]]:
    """:func:`window_flags` of each window ``samples[start : start + width]`` (all inside
    ``samples``, NaN/inf already replaced), each sample squared and tested once however many
    windows overlap it: the song is cut into blocks that every window start and end falls
    on, and a window's energy and flat-top count are sums of its blocks' (in float64)."""
    if len(starts) == 0:
        return []
    block = int(np.gcd.reduce(np.append(starts, width)))
    count = -(-len(samples) // block)
    padded = np.zeros(count * block, np.float32)
    padded[: len(samples)] = samples
    tops = np.zeros(count * block, bool)  # a flat top starting at sample i
    tops[: max(len(samples) - 2, 0)] = _flat_tops(samples)
    energy = np.square(padded).reshape(count, block).sum(axis=1, dtype=np.float64)
    energy = np.concatenate(([0.0], np.cumsum(energy)))
    top_count = np.concatenate(([0], np.cumsum(tops.reshape(count, block).sum(axis=1))))
    first, ends = starts // block, starts + width
    last = ends // block
    rms = np.sqrt(np.maximum(energy[last] - energy[first], 0.0) / width)
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(rms)
    inside = top_count[last] - top_count[first] - tops[ends - 2] - tops[ends - 1]  # tops
    clipped = inside / width >= CLIP_SHARE  # that end past the window are not its own
    named = np.where(db < SILENT_DB, 1, np.where(db < NEAR_SILENT_DB, 2, np.where(clipped, 3, 0)))
    return [_FLAG_SETS[index] for index in named.tolist()]


_FLAG_SETS = ((), ("silent",), ("near-silent",), ("clipped",))  # flags_of_windows' names


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
