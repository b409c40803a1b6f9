"""Baselines that show what the network adds. For continuous labels (DEAM): the training mean
and ridge regression on pooled log-mel statistics, one (valence, arousal) pair per song on
1..9. For quadrant labels (4Q): the majority quadrant, and multinomial logistic regression on
the same pooled statistics.

Ridge features, per song: the mean and the standard deviation over time of each mel band,
over all of the song's cached windows. Features are standardised with training statistics;
the penalty is chosen per dimension on the validation songs (lowest MSE); the fit uses the
training songs only, as the network does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from emotrack.models.audio import CNN_MEL
from emotrack.models.emotion import DIMENSIONS
from emotrack.models.frontend import FrontEnd

RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-2, 5, 15))  # penalties tried on val


@dataclass
class MeanBaseline:
    """Predicts the training songs' mean for every song."""

    mean: np.ndarray  # (2,) on 1..9

    def predict(self, n_songs: int) -> np.ndarray:
        return np.tile(self.mean, (n_songs, 1))


def mean_baseline(train_targets: np.ndarray) -> MeanBaseline:
    """Fit on (n_train, 2) song-level targets."""
    return MeanBaseline(np.asarray(train_targets, dtype=np.float64).mean(axis=0))


@dataclass
class RidgeBaseline:
    """Linear model on standardised features; one weight vector and penalty per dimension."""

    feature_mean: np.ndarray  # (F,)
    feature_std: np.ndarray  # (F,)
    weights: np.ndarray  # (F, 2)
    intercept: np.ndarray  # (2,)
    alpha: tuple[float, float]  # chosen penalty per dimension
    val_mse: dict[float, tuple[float, float]]  # penalty -> validation MSE per dimension

    def predict(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, dtype=np.float64) - self.feature_mean) / self.feature_std
        return x @ self.weights + self.intercept


def ridge_baseline(
    train_features: np.ndarray,
    train_targets: np.ndarray,
    val_features: np.ndarray,
    val_targets: np.ndarray,
    alphas: Iterable[float] = RIDGE_ALPHAS,
) -> RidgeBaseline:
    """Closed-form ridge (unpenalised intercept) fitted on train, penalty chosen on val.

    Solved through one SVD of the standardised training matrix, so every penalty is cheap:
    w(alpha) = V diag(s / (s² + alpha)) Uᵀ y."""
    x = np.asarray(train_features, dtype=np.float64)
    y = np.asarray(train_targets, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need (n >= 2, F) training features matching targets, got {x.shape}")
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-8] = 1.0  # constant features stay 0 after centring
    xs = (x - mean) / std
    intercept = y.mean(axis=0)
    u, s, vt = np.linalg.svd(xs, full_matrices=False)
    uty = u.T @ (y - intercept)  # (k, 2)
    xv = (np.asarray(val_features, dtype=np.float64) - mean) / std
    yv = np.asarray(val_targets, dtype=np.float64)

    fits, val_mse = {}, {}
    for alpha in alphas:
        w = vt.T @ ((s / (s**2 + alpha))[:, None] * uty)
        fits[alpha] = w
        error = np.mean((xv @ w + intercept - yv) ** 2, axis=0)
        val_mse[alpha] = (float(error[0]), float(error[1]))
    chosen = tuple(min(val_mse, key=lambda a, d=d: val_mse[a][d]) for d in range(len(DIMENSIONS)))
    weights = np.stack([fits[chosen[d]][:, d] for d in range(len(DIMENSIONS))], axis=1)
    return RidgeBaseline(mean, std, weights, intercept, chosen, val_mse)


def pooled_mel_stats(features: np.ndarray) -> np.ndarray:
    """One song's cached windows -> (2 * n_mels,) mean and std over time of each mel band.

    ``features`` is what the cache stores: log-mel windows (N, n_mels, frames), or raw
    waveform windows (N, samples) for waveform models, turned into the small CNN's log-mel."""
    features = np.asarray(features, dtype=np.float32)
    if features.ndim == 2:
        features = _waveform_front_end().log_mel(torch.from_numpy(features)).numpy()
    if features.ndim != 3:
        raise ValueError(f"expected (windows, n_mels, frames) features, got shape {features.shape}")
    bands = np.moveaxis(features, 1, 0).reshape(features.shape[1], -1).astype(np.float64)
    return np.concatenate([bands.mean(axis=1), bands.std(axis=1)])


@lru_cache(maxsize=1)
def _waveform_front_end() -> FrontEnd:
    return FrontEnd(CNN_MEL)


def song_features(load: Callable[[str], np.ndarray], keys: Iterable[str]) -> np.ndarray:
    """(n_clips, F) pooled features; ``load(key)`` returns that clip's cached windows,
    e.g. ``lambda k: cache.load(k)[0]`` for a ``MelCache``."""
    return np.stack([pooled_mel_stats(load(key)) for key in keys])


# ---------------------------------------------------------------------------- quadrants

LOGISTIC_CS = tuple(float(c) for c in np.logspace(-4, 1, 11))  # inverse penalties tried on val


def majority_baseline(train_quadrants: np.ndarray) -> int:
    """The quadrant index (0..3) most frequent among the training clips (lowest on a tie)."""
    return int(np.bincount(np.asarray(train_quadrants, dtype=np.int64), minlength=4).argmax())


@dataclass
class LogisticBaseline:
    """Multinomial logistic regression on standardised features (L2, penalty chosen on val)."""

    feature_mean: np.ndarray
    feature_std: np.ndarray
    model: object  # sklearn LogisticRegression
    c: float  # chosen inverse penalty
    val_f1: dict[float, float]  # inverse penalty -> validation macro-F1

    def predict(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, dtype=np.float64) - self.feature_mean) / self.feature_std
        return self.model.predict(x).astype(np.int64)


def logistic_baseline(
    train_features: np.ndarray,
    train_quadrants: np.ndarray,
    val_features: np.ndarray,
    val_quadrants: np.ndarray,
    cs: Iterable[float] = LOGISTIC_CS,
) -> LogisticBaseline:
    """Fit on train for every penalty, keep the one with the best validation macro-F1 (the
    strongest penalty on a tie)."""
    from sklearn.linear_model import LogisticRegression

    from emotrack.offline.metrics import quadrant_scores

    x = np.asarray(train_features, dtype=np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-8] = 1.0
    xs, xv = (x - mean) / std, (np.asarray(val_features, dtype=np.float64) - mean) / std
    fits, scores = {}, {}
    for c in sorted(cs):
        model = LogisticRegression(C=c, max_iter=2000).fit(xs, train_quadrants)
        fits[c] = model
        scores[c] = quadrant_scores(val_quadrants, model.predict(xv))["macro_f1"]
    best = max(scores, key=lambda c: (scores[c], -c))
    return LogisticBaseline(mean, std, fits[best], best, scores)
