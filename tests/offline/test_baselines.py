"""Baselines: the training mean and ridge on pooled log-mel statistics (continuous labels), the
majority quadrant and logistic regression on the same statistics (quadrant labels)."""

from __future__ import annotations

import numpy as np
import pytest

from emotrack.models.audio import CNN_MEL
from emotrack.offline.baselines import (
    LOGISTIC_CS,
    RIDGE_ALPHAS,
    logistic_baseline,
    majority_baseline,
    mean_baseline,
    pooled_mel_stats,
    ridge_baseline,
    song_features,
)
from emotrack.offline.metrics import quadrant_scores, regression_metrics


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


def test_song_features_pool_each_clip_by_key_in_order():
    rng = np.random.default_rng(3)
    cache = {f"4q-MT{i}": rng.normal(size=(3, 8, 10)).astype(np.float32) for i in range(1, 5)}
    keys = ["4q-MT3", "4q-MT1"]
    features = song_features(cache.__getitem__, keys)
    assert features.shape == (2, 16)
    np.testing.assert_allclose(features[0], pooled_mel_stats(cache["4q-MT3"]))
    np.testing.assert_allclose(features[1], pooled_mel_stats(cache["4q-MT1"]))


def test_majority_baseline_takes_the_most_frequent_quadrant_lowest_on_a_tie():
    assert majority_baseline(np.array([2, 0, 2, 3, 2, 1])) == 2
    assert majority_baseline(np.array([3, 1, 3, 1])) == 1
    assert majority_baseline(np.array([3])) == 3


def _clusters(rng, n_per_quadrant, n_features=6, spread=1.0):
    """Four quadrants, each a cloud around its own centre, features on uneven scales."""
    centres = rng.normal(scale=2.0, size=(4, n_features))
    labels = np.repeat(np.arange(4), n_per_quadrant)
    x = centres[labels] + rng.normal(scale=spread, size=(len(labels), n_features))
    return x * np.geomspace(0.01, 100, n_features), labels


def test_logistic_regression_finds_quadrants_the_features_carry():
    rng = np.random.default_rng(4)
    x_train, y_train = _clusters(rng, 30)
    x_val, y_val = _clusters(np.random.default_rng(4), 10)  # same centres
    x_val = x_val + rng.normal(scale=0.01, size=x_val.shape)
    logistic = logistic_baseline(x_train, y_train, x_val, y_val)
    assert set(logistic.val_f1) == set(LOGISTIC_CS) and logistic.c in LOGISTIC_CS
    assert logistic.val_f1[logistic.c] == max(logistic.val_f1.values())
    predicted = logistic.predict(x_val)
    assert predicted.dtype == np.int64 and set(predicted) <= {0, 1, 2, 3}
    assert quadrant_scores(y_val, predicted)["macro_f1"] > 0.8


def test_logistic_regression_on_noise_is_near_chance_and_takes_constant_features():
    rng = np.random.default_rng(5)
    x_train, x_val = rng.normal(size=(80, 20)), rng.normal(size=(40, 20))
    x_train[:, 0] = x_val[:, 0] = 4.0  # a constant band must not divide by zero
    y_train, y_val = rng.integers(0, 4, 80), rng.integers(0, 4, 40)
    logistic = logistic_baseline(x_train, y_train, x_val, y_val)
    x_test, y_test = rng.normal(size=(400, 20)), rng.integers(0, 4, 400)
    x_test[:, 0] = 4.0
    assert quadrant_scores(y_test, logistic.predict(x_test))["accuracy"] < 0.4
