"""Cached windows + per-window targets, held in memory, batched by indexing.

Targets live on one internal scale: DEAM's -1..1 (static 1..9 means mapped with
``nine_to_unit``), then z-scored with the run's :class:`LabelScale` (train+val statistics).
Every window of a song gets the song's static label; its dynamic label is the mean of the 2 Hz
curve inside the window, NaN where the window holds no annotated frame (masked out of the loss).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from emotrack.models.emotion import LabelScale, nine_to_unit
from emotrack.offline.deam import Curve, Song

TARGET_KINDS = ("static", "dynamic")
DIMENSION_CURVES = ("valence_curve", "arousal_curve")


def static_unit(song: Song) -> np.ndarray:
    """(2,) static (valence, arousal) on -1..1; NaN for a missing mean."""
    means = (song.valence_mean, song.arousal_mean)
    return np.array([np.nan if m is None else nine_to_unit(m) for m in means], dtype=np.float64)


def curve_window_means(
    curve: Curve | None, starts: np.ndarray, window_seconds: float
) -> np.ndarray:
    """Mean of a curve's values with ``start <= time < start + window`` for each window start
    (seconds); NaN where a window holds no annotated frame (or there is no curve)."""
    starts = np.asarray(starts, dtype=np.float64)
    if curve is None or len(curve.times) == 0:
        return np.full(len(starts), np.nan)
    times = np.asarray(curve.times, dtype=np.float64)
    inside = (times[None, :] >= starts[:, None]) & (
        times[None, :] < starts[:, None] + window_seconds
    )
    counts = inside.sum(axis=1)
    sums = inside @ np.asarray(curve.values, dtype=np.float64)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def window_targets(song: Song, starts: np.ndarray, window_seconds: float) -> dict[str, np.ndarray]:
    """``{"static": (N, 2), "dynamic": (N, 2)}`` on -1..1 for windows starting at ``starts``."""
    n = len(starts)
    static = np.broadcast_to(static_unit(song), (n, 2)).copy()
    dynamic = np.stack(
        [curve_window_means(getattr(song, c), starts, window_seconds) for c in DIMENSION_CURVES],
        axis=1,
    )
    return {"static": static, "dynamic": dynamic}


def to_z(unit: np.ndarray, scale: LabelScale) -> np.ndarray:
    """-1..1 -> z-scores of the run's label scale (NaN stays NaN)."""
    return ((unit - np.asarray(scale.mean)) / np.asarray(scale.std)).astype(np.float32)


def shuffled_labels(songs: list[Song], seed: int) -> dict[int, Song]:
    """Sanity check: song id -> another song (of ``songs``) whose labels it takes."""
    order = np.random.default_rng(seed).permutation(len(songs))
    return {song.song_id: songs[j] for song, j in zip(songs, order, strict=True)}


@dataclass
class WindowSet:
    """All windows of some songs: features (N, *feature_shape) float32, the song id of each
    window, and targets (N, 2) per kind on -1..1, NaN where missing."""

    features: np.ndarray
    song_ids: np.ndarray
    targets: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.song_ids)


def build_windows(
    songs: Iterable[Song],
    load: Callable[[int], tuple[np.ndarray, np.ndarray]],
    window_seconds: float,
    labels_from: Mapping[int, Song] | None = None,
) -> WindowSet:
    """Stack every song's cached windows. ``load(song_id) -> (features, starts_seconds)``
    (``MelCache.load``); ``labels_from`` maps a song id to the song whose labels it gets
    (the shuffled-label check), default its own."""
    features, ids, targets = [], [], {k: [] for k in TARGET_KINDS}
    for song in songs:
        feats, song_starts = load(song.song_id)
        labelled = song if labels_from is None else labels_from[song.song_id]
        unit = window_targets(labelled, song_starts, window_seconds)
        features.append(np.asarray(feats, dtype=np.float32))
        ids.append(np.full(len(song_starts), song.song_id, dtype=np.int64))
        for kind in TARGET_KINDS:
            targets[kind].append(unit[kind])
    if not features:
        raise ValueError("no songs to build windows from")
    return WindowSet(
        features=np.concatenate(features),
        song_ids=np.concatenate(ids),
        targets={k: np.concatenate(v) for k, v in targets.items()},
    )


class DeviceWindows:
    """A :class:`WindowSet` as torch tensors with z-scored targets, moved to ``device`` once
    (``resident``), or kept on the CPU with each batch copied over when they do not fit there;
    ``batch(index)`` gathers by indexing (no per-item Python work)."""

    def __init__(
        self, windows: WindowSet, scale: LabelScale, device: torch.device, resident: bool = True
    ):
        self.device = device
        self.storage = device if resident else torch.device("cpu")
        self.features = torch.from_numpy(windows.features).to(self.storage)
        self.targets = {
            k: torch.from_numpy(to_z(v, scale)).to(self.storage) for k, v in windows.targets.items()
        }

    def __len__(self) -> int:
        return len(self.features)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(features, {"static", "dynamic"}) of windows ``index``, on the training device."""
        index = index.to(self.storage)
        feats = self.features.index_select(0, index)
        targets = {k: v.index_select(0, index) for k, v in self.targets.items()}
        if self.storage != self.device:
            feats = feats.to(self.device, non_blocking=True)
            targets = {k: v.to(self.device, non_blocking=True) for k, v in targets.items()}
        return feats, targets
