"""Baselines that show what the network adds: the training mean, and ridge regression on
pooled log-mel statistics. Both predict one (valence, arousal) pair per song on 1..9.

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


def song_features(load: Callable[[int], np.ndarray], song_ids: Iterable[int]) -> np.ndarray:
    """(n_songs, F) pooled features; ``load(song_id)`` returns that song's cached windows,
    e.g. ``lambda i: cache.load(i)[0]`` for a ``MelCache``."""
    return np.stack([pooled_mel_stats(load(int(i))) for i in song_ids])


@dataclass
class BaselineInputs:
    """What :func:`emotrack.offline.report.evaluate_predictions` needs to score the baselines:
    song-level features and 1..9 targets of the train and val songs, features of the songs
    being evaluated (``eval_ids`` in any order; they are matched by id)."""

    train_features: np.ndarray  # (n_train, F)
    train_targets: np.ndarray  # (n_train, 2), 1..9
    val_features: np.ndarray  # (n_val, F)
    val_targets: np.ndarray  # (n_val, 2), 1..9
    eval_ids: np.ndarray  # (n_eval,)
    eval_features: np.ndarray  # (n_eval, F)

    @classmethod
    def from_cache(
        cls,
        load: Callable[[int], np.ndarray],
        targets: dict[int, tuple[float, float]],
        train_ids: Iterable[int],
        val_ids: Iterable[int],
        eval_ids: Iterable[int],
    ) -> BaselineInputs:
        """Build from a window loader (see :func:`song_features`) and song id -> (v, a) on 1..9."""
        train_ids, val_ids, eval_ids = list(train_ids), list(val_ids), list(eval_ids)
        return cls(
            train_features=song_features(load, train_ids),
            train_targets=np.array([targets[i] for i in train_ids], dtype=np.float64),
            val_features=song_features(load, val_ids),
            val_targets=np.array([targets[i] for i in val_ids], dtype=np.float64),
            eval_ids=np.asarray(eval_ids),
            eval_features=song_features(load, eval_ids),
        )
