"""Evaluation on DEAM's 1..9 scale: song-level aggregation, regression metrics, quadrants.

All functions take numpy arrays. Predictions and truths are ``(n, 2)`` arrays whose columns
are (valence, arousal), as in :data:`emotrack.models.emotion.DIMENSIONS`.

Undefined values are NaN, never an exception: Pearson r is NaN when either side is constant
(a constant predictor has no correlation), R² is NaN when the truth is constant, CCC is NaN
only when both sides are constant. R² may be negative (worse than predicting the mean).
"""

from __future__ import annotations

import math

import numpy as np

from emotrack.models.scale import DIMENSIONS, quadrant_index, quadrant_label, unit_to_nine

# Quadrants of the valence-arousal plane, index = value returned by `quadrants`.
QUADRANT_NAMES = tuple(quadrant_label(i) for i in range(4))
METRIC_NAMES = ("r2", "rmse", "mae", "pearson", "ccc")  # reported per dimension
_TINY = 1e-12  # variance below this counts as constant


def song_level(song_ids: np.ndarray, preds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average window values per song: ``(ids sorted ascending, means (n_songs, ...))``."""
    song_ids = np.asarray(song_ids)
    preds = np.asarray(preds, dtype=np.float64)
    if len(song_ids) != len(preds):
        raise ValueError(f"{len(song_ids)} song ids for {len(preds)} predictions")
    ids, inverse = np.unique(song_ids, return_inverse=True)
    sums = np.zeros((len(ids), *preds.shape[1:]))
    np.add.at(sums, inverse, preds)
    counts = np.bincount(inverse, minlength=len(ids)).reshape(-1, *([1] * (preds.ndim - 1)))
    return ids, sums / counts


def r2(pred: np.ndarray, true: np.ndarray) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (NaN when ``true`` is constant)."""
    pred, true = _pair(pred, true)
    total = float(np.sum((true - true.mean()) ** 2))
    if total < _TINY * len(true):
        return float("nan")
    return 1.0 - float(np.sum((true - pred) ** 2)) / total


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    pred, true = _pair(pred, true)
    return float(np.sqrt(np.mean((pred - true) ** 2)))


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    pred, true = _pair(pred, true)
    return float(np.mean(np.abs(pred - true)))


def pearson(pred: np.ndarray, true: np.ndarray) -> float:
    """Pearson correlation (NaN when either side is constant)."""
    pred, true = _pair(pred, true)
    dp, dt = pred - pred.mean(), true - true.mean()
    vp, vt = float(np.mean(dp**2)), float(np.mean(dt**2))
    if vp < _TINY or vt < _TINY:
        return float("nan")
    return float(np.clip(np.mean(dp * dt) / np.sqrt(vp * vt), -1.0, 1.0))


def ccc(pred: np.ndarray, true: np.ndarray) -> float:
    """Lin's concordance correlation coefficient: 2 cov / (var_p + var_t + (mean_p - mean_t)²).

    A constant prediction scores 0 (or less than 1 when off-centre); NaN only when both sides
    are constant."""
    pred, true = _pair(pred, true)
    cov = float(np.mean((pred - pred.mean()) * (true - true.mean())))
    denominator = float(pred.var() + true.var() + (pred.mean() - true.mean()) ** 2)
    if denominator < _TINY:
        return float("nan")
    return 2.0 * cov / denominator


def regression_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, dict[str, float]]:
    """Per dimension ``{"valence": {"r2", "rmse", "mae", "pearson", "ccc", "n"}, "arousal": ...}``.

    ``pred`` and ``true`` are ``(n, 2)`` on the 1..9 scale."""
    pred, true = _columns(pred), _columns(true)
    if pred.shape != true.shape:
        raise ValueError(f"prediction shape {pred.shape} != truth shape {true.shape}")
    return {name: dimension_metrics(pred[:, d], true[:, d]) for d, name in enumerate(DIMENSIONS)}


def dimension_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """``{"r2", "rmse", "mae", "pearson", "ccc", "n"}`` for one dimension."""
    functions = {"r2": r2, "rmse": rmse, "mae": mae, "pearson": pearson, "ccc": ccc}
    return {**{name: fn(pred, true) for name, fn in functions.items()}, "n": int(np.size(pred))}


def frame_metrics(preds: np.ndarray, dynamic_true: np.ndarray) -> dict[str, dict] | None:
    """Per-window predictions (1..9) against per-window dynamic targets (-1..1, NaN = no label).

    Targets are mapped to 1..9 with ``unit_to_nine``. Windows without a label in a dimension
    are left out of that dimension; a dimension with no label at all is None, and the result
    is None when no window has any dynamic label."""
    preds, dynamic_true = _columns(preds), _columns(dynamic_true)
    if preds.shape != dynamic_true.shape:
        raise ValueError(f"prediction shape {preds.shape} != target shape {dynamic_true.shape}")
    true = unit_to_nine(dynamic_true)
    result = {}
    for d, name in enumerate(DIMENSIONS):
        keep = np.isfinite(true[:, d])
        result[name] = dimension_metrics(preds[keep, d], true[keep, d]) if keep.any() else None
    return result if any(v is not None for v in result.values()) else None


def quadrants(va: np.ndarray) -> np.ndarray:
    """(n, 2) valence/arousal on 1..9 -> quadrant index 0..3 (see :data:`QUADRANT_NAMES`).

    A value exactly on the centre line counts as high (>= 5)."""
    va = _columns(va)
    return quadrant_index(va[:, 0], va[:, 1]).astype(np.int64)


def quadrant_scores(true: np.ndarray, pred: np.ndarray) -> dict:
    """Classification scores of quadrant indices 0..3 (see :data:`QUADRANT_NAMES`), true
    against predicted; see :func:`confusion_scores`."""
    true, pred = np.asarray(true, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    if true.shape != pred.shape or true.ndim != 1:
        raise ValueError(f"{len(pred)} predicted quadrants for {len(true)} true ones")
    if len(true) == 0:
        raise ValueError("no quadrants to score")
    confusion = np.zeros((4, 4), dtype=np.int64)
    np.add.at(confusion, (true, pred), 1)
    return confusion_scores(confusion)


def confusion_scores(confusion: np.ndarray) -> dict:
    """From a 4x4 quadrant confusion matrix (rows true, columns predicted): ``accuracy``,
    ``f1`` per quadrant, ``macro_f1`` (their mean over the quadrants that occur in either),
    and the share of clips whose valence and whose arousal sign is right
    (``valence_accuracy``, ``arousal_accuracy``)."""
    confusion = np.asarray(confusion, dtype=np.int64)
    total = int(confusion.sum())
    hits = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)  # 2 TP + FP + FN
    f1 = np.where(denominator > 0, 2 * hits / np.maximum(denominator, 1), np.nan)
    positive_valence = np.isin(np.arange(4), (0, 3))  # Q1, Q4
    high_arousal = np.isin(np.arange(4), (0, 1))  # Q1, Q2
    same_valence = positive_valence[:, None] == positive_valence[None, :]
    same_arousal = high_arousal[:, None] == high_arousal[None, :]
    share = (lambda mask: float(confusion[mask].sum() / total)) if total else (lambda _: math.nan)
    return {
        "names": list(QUADRANT_NAMES),
        "confusion": confusion.tolist(),
        "accuracy": share(np.eye(4, dtype=bool)),
        "f1": [None if np.isnan(v) else float(v) for v in f1],
        "macro_f1": float(np.nanmean(f1)) if np.isfinite(f1).any() else math.nan,
        "valence_accuracy": share(same_valence),
        "arousal_accuracy": share(same_arousal),
        "n": total,
    }


def _columns(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(DIMENSIONS):
        raise ValueError(f"expected an (n, 2) array of (valence, arousal), got shape {x.shape}")
    return x


def _pair(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64).ravel()
    true = np.asarray(true, dtype=np.float64).ravel()
    if pred.shape != true.shape:
        raise ValueError(f"{pred.size} predictions for {true.size} truths")
    if pred.size == 0:
        raise ValueError("no values to evaluate")
    return pred, true
