"""Score window predictions of one part of a split, clip by clip, against the baselines.

Window values (1..9) are pooled per clip (their mean, i.e. the mean P(positive) for a quadrant
model) before scoring. Clips with continuous labels (DEAM) are scored by regression metrics per
dimension, song level and per frame; every clip is scored by its quadrant: against its own
label (4Q) where the part has such clips, else against the quadrant of its static means.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from emotrack.models.emotion import DIMENSIONS
from emotrack.offline.baselines import (
    logistic_baseline,
    majority_baseline,
    mean_baseline,
    ridge_baseline,
    song_features,
)
from emotrack.offline.clips import Clip
from emotrack.offline.metrics import (
    frame_metrics,
    quadrant_scores,
    quadrants,
    regression_metrics,
    song_level,
)

REGRESSION_BASELINES = ("mean", "ridge")
QUADRANT_BASELINES = ("majority", "logistic")


@dataclass
class BaselineFit:
    """What the baselines learn from: the train and val clips, and pooled log-mel statistics
    (:func:`~emotrack.offline.baselines.pooled_mel_stats`) of those and the evaluated clips."""

    train: list[str]
    val: list[str]
    features: Mapping[str, np.ndarray]

    @classmethod
    def from_cache(
        cls, load: Callable[[str], np.ndarray], train: list[str], val: list[str], judged: list[str]
    ) -> BaselineFit:
        """``load(key)`` gives a clip's cached windows (``lambda k: cache.load(k)[0]``, or the
        windows already in memory: ``WindowSet.clip_features()``)."""
        keys = list(dict.fromkeys([*train, *val, *judged]))
        return cls(list(train), list(val), dict(zip(keys, song_features(load, keys), strict=True)))

    def stack(self, keys) -> np.ndarray:
        return np.stack([self.features[k] for k in keys])


def quadrant_judged(clips: list[Clip]) -> list[Clip]:
    """The clips a part's quadrant scores are over: those with a quadrant label if any,
    else every clip with static means."""
    labelled = [c for c in clips if c.has_quadrant]
    return labelled or [c for c in clips if c.has_static]


def evaluate_clips(
    keys: np.ndarray,
    values: np.ndarray,
    clips: Mapping[str, Clip],
    dynamic_true: np.ndarray | None = None,
    baselines: BaselineFit | None = None,
    split: str = "test",
) -> dict:
    """Score window predictions ``values`` (N, 2) on 1..9 of the windows' clips ``keys`` (N,).

    ``dynamic_true`` (N, 2): per-window dynamic targets on -1..1 (NaN where missing) for the
    per-frame scores. Returns a JSON-ready dict: ``methods`` maps ``model`` and each baseline
    to ``{"song": per-dimension regression metrics or None, "frame": ... or None,
    "quadrants": quadrant_scores(...) or None}``; ``clips`` holds per-clip arrays for plots."""
    keys = np.asarray(keys).astype(str)
    ids, pooled = song_level(keys, np.asarray(values, dtype=np.float64))
    judged = [clips[k] for k in ids]
    position = {k: i for i, k in enumerate(ids)}
    static = [c for c in judged if c.has_static]
    by_quadrant = quadrant_judged(judged)
    truth = np.array([c.static for c in static], dtype=np.float64).reshape(-1, 2)
    true_q = np.array([c.true_quadrant - 1 for c in by_quadrant], dtype=np.int64)

    def scored(per_clip: np.ndarray | None, quadrant_pred: np.ndarray | None) -> dict:
        result = {"song": None, "frame": None, "quadrants": None}
        if per_clip is not None and static:
            rows = [position[c.key] for c in static]
            result["song"] = regression_metrics(per_clip[rows], truth)
        if quadrant_pred is None and per_clip is not None and by_quadrant:
            quadrant_pred = quadrants(per_clip[[position[c.key] for c in by_quadrant]])
        if quadrant_pred is not None and by_quadrant:
            result["quadrants"] = quadrant_scores(true_q, quadrant_pred)
        return result

    methods = {"model": scored(pooled, None)}
    if dynamic_true is not None:
        methods["model"]["frame"] = frame_metrics(values, dynamic_true)
    per_clip = {"model": pooled.tolist()}
    if baselines is not None:
        for name, (values_per_clip, quadrant_pred, fit) in _baselines(
            baselines, clips, list(ids), by_quadrant
        ).items():
            methods[name] = {**scored(values_per_clip, quadrant_pred), "fit": fit}
            if values_per_clip is not None:
                per_clip[name] = values_per_clip.tolist()
    return {
        "split": split,
        "n_clips": len(ids),
        "n_windows": len(keys),
        "methods": methods,
        "clips": {
            "keys": list(ids),
            "true": [list(c.static) if c.has_static else None for c in judged],
            "quadrant": [None if c.true_quadrant is None else c.true_quadrant - 1 for c in judged],
            **per_clip,
        },
    }


def _baselines(fit: BaselineFit, clips: Mapping[str, Clip], ids: list[str], by_quadrant):
    """name -> (per-clip values on 1..9 or None, predicted quadrants or None, fit details)."""
    out = {}
    train_static = [k for k in fit.train if clips[k].has_static]
    val_static = [k for k in fit.val if clips[k].has_static]
    if len(train_static) >= 2 and val_static and any(clips[k].has_static for k in ids):

        def targets(keys):
            return np.array([clips[k].static for k in keys], dtype=np.float64)

        mean = mean_baseline(targets(train_static))
        out["mean"] = (mean.predict(len(ids)), None, {"mean": mean.mean.tolist()})
        ridge = ridge_baseline(
            fit.stack(train_static),
            targets(train_static),
            fit.stack(val_static),
            targets(val_static),
        )
        out["ridge"] = (
            ridge.predict(fit.stack(ids)),
            None,
            {
                "alpha": dict(zip(DIMENSIONS, ridge.alpha, strict=True)),
                "features": int(fit.stack(ids[:1]).shape[1]),
                "train_clips": len(train_static),
                "val_clips": len(val_static),
            },
        )
    labelled = {c.key for c in by_quadrant if c.has_quadrant}
    train_q = [k for k in fit.train if clips[k].has_quadrant]
    val_q = [k for k in fit.val if clips[k].has_quadrant]
    if labelled and len({clips[k].quadrant for k in train_q}) >= 2 and val_q:
        judged = [c.key for c in by_quadrant]

        def labels(keys):
            return np.array([clips[k].quadrant - 1 for k in keys], dtype=np.int64)

        majority = majority_baseline(labels(train_q))
        out["majority"] = (None, np.full(len(judged), majority), {"quadrant": majority})
        logistic = logistic_baseline(
            fit.stack(train_q), labels(train_q), fit.stack(val_q), labels(val_q)
        )
        out["logistic"] = (
            None,
            logistic.predict(fit.stack(judged)),
            {"c": logistic.c, "train_clips": len(train_q), "val_clips": len(val_q)},
        )
    return out
