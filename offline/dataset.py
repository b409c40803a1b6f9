"""Cached windows + per-window targets, held in memory, batched by indexing.

Every window gets the targets its clip's labels allow, NaN where a label is missing (masked
out of the loss): ``static`` (the clip's 1..9 means mapped to DEAM's -1..1 with
``nine_to_unit``), ``dynamic`` (the mean of the 2 Hz curve inside the window) and ``sign``
(1 where the quadrant says valence / arousal is positive, 0 where negative). ``confidence``
(N,) is how sure each window's quadrant is (4Q's PQuad; 1 where unknown). Static and dynamic
targets are z-scored with the run's :class:`LabelScale` (train+val statistics) on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from emotrack.models.emotion import LabelScale, nine_to_unit
from emotrack.offline.clips import Clip
from emotrack.offline.deam_records import Curve
from emotrack.offline.fourq import QUADRANT_SIGNS

TARGET_KINDS = ("static", "dynamic", "sign")
REGRESSION_KINDS = ("static", "dynamic")


def static_unit(clip: Clip) -> np.ndarray:
    """(2,) static (valence, arousal) on -1..1; NaN for a missing mean."""
    means = clip.static or (None, None)
    return np.array([np.nan if m is None else nine_to_unit(m) for m in means], dtype=np.float64)


def sign_target(clip: Clip) -> np.ndarray:
    """(2,) 1.0 for a positive, 0.0 for a negative valence / arousal quadrant; NaN without one."""
    if clip.quadrant is None:
        return np.full(2, np.nan)
    return (np.array(QUADRANT_SIGNS[clip.quadrant]) > 0).astype(np.float64)


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


def window_targets(clip: Clip, starts: np.ndarray, window_seconds: float) -> dict[str, np.ndarray]:
    """``{"static", "dynamic", "sign"}``, each (N, 2), for windows starting at ``starts``."""
    n = len(starts)
    curves = clip.curves or (None, None)
    dynamic = np.stack([curve_window_means(c, starts, window_seconds) for c in curves], axis=1)
    return {
        "static": np.broadcast_to(static_unit(clip), (n, 2)).copy(),
        "dynamic": dynamic,
        "sign": np.broadcast_to(sign_target(clip), (n, 2)).copy(),
    }


def to_z(unit: np.ndarray, scale: LabelScale) -> np.ndarray:
    """-1..1 -> z-scores of the run's label scale (NaN stays NaN)."""
    return ((unit - np.asarray(scale.mean)) / np.asarray(scale.std)).astype(np.float32)


def shuffled_labels(clips: list[Clip], seed: int) -> dict[str, Clip]:
    """Sanity check: clip key -> another clip (of ``clips``) whose labels it takes."""
    order = np.random.default_rng(seed).permutation(len(clips))
    return {clip.key: clips[j] for clip, j in zip(clips, order, strict=True)}


@dataclass
class WindowSet:
    """All windows of some clips: features (N, *feature_shape) float32, the clip key of each
    window, targets (N, 2) per kind (NaN where missing) and the quadrant confidence (N,)."""

    features: np.ndarray
    keys: np.ndarray  # (N,) str
    targets: dict[str, np.ndarray]
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def clip_features(self) -> dict[str, np.ndarray]:
        """Each clip's windows by key: views into ``features``, where :func:`build_windows`
        stacks a clip's windows next to each other."""
        keys, first, counts = np.unique(self.keys, return_index=True, return_counts=True)
        return {
            str(k): self.features[i : i + n] for k, i, n in zip(keys, first, counts, strict=True)
        }

    def kinds(self) -> list[str]:
        """Target kinds some window of the set has."""
        return [k for k in TARGET_KINDS if np.isfinite(self.targets[k]).any()]


def build_windows(
    clips: Iterable[Clip],
    load: Callable[[str], tuple[np.ndarray, np.ndarray]],
    window_seconds: float,
    labels_from: Mapping[str, Clip] | None = None,
) -> WindowSet:
    """Stack every clip's cached windows. ``load(key) -> (features, starts_seconds)``
    (``MelCache.load``); ``labels_from`` maps a key to the clip whose labels it gets (the
    shuffled-label check), default its own."""
    features, keys, confidence = [], [], []
    targets: dict[str, list] = {k: [] for k in TARGET_KINDS}
    for clip in clips:
        feats, starts = load(clip.key)
        labelled = clip if labels_from is None else labels_from[clip.key]
        for kind, values in window_targets(labelled, starts, window_seconds).items():
            targets[kind].append(values)
        features.append(np.asarray(feats, dtype=np.float32))
        keys.append(np.full(len(starts), clip.key, dtype=object))
        sure = 1.0 if labelled.confidence is None else labelled.confidence
        confidence.append(np.full(len(starts), sure, dtype=np.float32))
    if not features:
        raise ValueError("no clips to build windows from")
    return WindowSet(
        features=np.concatenate(features),
        keys=np.concatenate(keys).astype(str),
        targets={k: np.concatenate(v) for k, v in targets.items()},
        confidence=np.concatenate(confidence),
    )


class DeviceWindows:
    """A :class:`WindowSet` as torch tensors, static and dynamic targets z-scored, moved to
    ``device`` once (``resident``), or kept on the CPU with each batch copied over when they do
    not fit there; ``batch(index)`` gathers by indexing (no per-item Python work)."""

    def __init__(
        self, windows: WindowSet, scale: LabelScale, device: torch.device, resident: bool = True
    ):
        self.device = device
        self.storage = device if resident else torch.device("cpu")
        self.features = torch.from_numpy(windows.features).to(self.storage)
        self.targets = {
            kind: torch.from_numpy(
                to_z(values, scale) if kind in REGRESSION_KINDS else values.astype(np.float32)
            ).to(self.storage)
            for kind, values in windows.targets.items()
        }
        self.targets["confidence"] = torch.from_numpy(windows.confidence).to(self.storage)

    def __len__(self) -> int:
        return len(self.features)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(features, {"static", "dynamic", "sign", "confidence"}) of windows ``index``, on
        the training device."""
        index = index.to(self.storage)
        feats = self.features.index_select(0, index)
        targets = {k: v.index_select(0, index) for k, v in self.targets.items()}
        if self.storage != self.device:
            feats = feats.to(self.device, non_blocking=True)
            targets = {k: v.to(self.device, non_blocking=True) for k, v in targets.items()}
        return feats, targets
