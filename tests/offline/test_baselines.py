"""Baselines: the training mean, and ridge on pooled log-mel statistics."""

from __future__ import annotations

import numpy as np
import pytest

from emotrack.models.audio import CNN_MEL
from emotrack.offline.baselines import (
    RIDGE_ALPHAS,
    BaselineInputs,
    mean_baseline,
    pooled_mel_stats,
    ridge_baseline,
    song_features,
)
from emotrack.offline.metrics import regression_metrics


def test_mean_baseline_predicts_the_training_mean():
    baseline = mean_baseline(np.array([[2.0, 6.0], [4.0, 8.0], [6.0, 4.0]]))
    np.testing.assert_allclose(baseline.predict(2), [[4.0, 6.0], [4.0, 6.0]])


def _linear_problem(rng, n, weights, scales, noise):
    """Features on very different scales (as mel statistics are), targets linear in them."""
    x = rng.normal(size=(n, len(weights))) * scales
    y = 5.0 + (x / scales) @ weights * 0.5 + rng.normal(scale=noise, size=(n, 2))
    return x, y


def test_ridge_recovers_a_linear_relation():
    rng = np.random.default_rng(0)
    weights, scales = rng.normal(size=(20, 2)), rng.uniform(0.1, 50, size=20)
    x_train, y_train = _linear_problem(rng, 300, weights, scales, 0.1)
    x_val, y_val = _linear_problem(rng, 80, weights, scales, 0.1)
    x_test, y_test = _linear_problem(rng, 80, weights, scales, 0.1)
    ridge = ridge_baseline(x_train, y_train, x_val, y_val)
    scores = regression_metrics(ridge.predict(x_test), y_test)
    assert scores["valence"]["r2"] > 0.95 and scores["arousal"]["r2"] > 0.95
    assert all(a < 10 for a in ridge.alpha)  # a clean signal wants little shrinkage
    assert set(ridge.val_mse) == set(RIDGE_ALPHAS)


def test_ridge_on_noise_shrinks_to_the_mean_and_ignores_constant_features():
    rng = np.random.default_rng(1)
    x_train, x_val = rng.normal(size=(60, 40)), rng.normal(size=(30, 40))
    x_train[:, 0] = x_val[:, 0] = 3.0  # a constant band must not divide by zero
    y_train, y_val = rng.normal(5, 1, size=(60, 2)), rng.normal(5, 1, size=(30, 2))
    ridge = ridge_baseline(x_train, y_train, x_val, y_val)
    assert min(ridge.alpha) >= 100  # nothing to learn: heavy shrinkage wins on val
    pred = ridge.predict(x_val)
    assert np.isfinite(pred).all()
    assert np.abs(pred - y_train.mean(axis=0)).max() < 0.2


def test_pooled_mel_stats_are_band_means_and_stds_over_all_windows():
    features = np.zeros((2, 3, 4), dtype=np.float32)  # 2 windows, 3 bands, 4 frames
    features[:, 1] = 2.0
    features[0, 2], features[1, 2] = 1.0, 3.0  # band 2: mean 2, std 1 across windows
    stats = pooled_mel_stats(features)
    np.testing.assert_allclose(stats, [0.0, 2.0, 2.0, 0.0, 0.0, 1.0])


def test_pooled_mel_stats_of_waveform_windows_use_a_log_mel():
    rng = np.random.default_rng(2)
    windows = rng.normal(size=(2, CNN_MEL.window_samples)).astype(np.float32)
    stats = pooled_mel_stats(windows)
    assert stats.shape == (2 * CNN_MEL.n_mels,) and np.isfinite(stats).all()
    with pytest.raises(ValueError, match="features"):
        pooled_mel_stats(np.zeros((2, 3, 4, 5)))


def test_baseline_inputs_from_a_cache_loader():
    rng = np.random.default_rng(3)
    cache = {i: rng.normal(size=(3, 8, 10)).astype(np.float32) for i in range(1, 9)}
    targets = {i: (float(i), 10.0 - i) for i in cache}
    inputs = BaselineInputs.from_cache(cache.__getitem__, targets, [1, 2, 3, 4], [5, 6], [8, 7])
    assert inputs.train_features.shape == (4, 16) and inputs.val_features.shape == (2, 16)
    np.testing.assert_allclose(inputs.val_targets, [[5.0, 5.0], [6.0, 4.0]])
    np.testing.assert_allclose(inputs.eval_features, song_features(cache.__getitem__, [8, 7]))
    assert inputs.eval_ids.tolist() == [8, 7]
