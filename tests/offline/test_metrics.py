"""Evaluation metrics on inputs whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emotrack.offline.metrics import (
    QUADRANT_NAMES,
    ccc,
    frame_metrics,
    mae,
    pearson,
    quadrant_accuracy,
    quadrant_confusion,
    quadrant_report,
    quadrants,
    r2,
    regression_metrics,
    rmse,
    song_level,
)


def test_perfect_prediction_scores_perfectly():
    true = np.array([[2.0, 7.0], [4.5, 3.0], [6.0, 5.5], [8.0, 1.5]])
    scores = regression_metrics(true.copy(), true)
    for dim in ("valence", "arousal"):
        assert scores[dim]["r2"] == pytest.approx(1.0)
        assert scores[dim]["ccc"] == pytest.approx(1.0)
        assert scores[dim]["pearson"] == pytest.approx(1.0)
        assert scores[dim]["rmse"] == 0.0
        assert scores[dim]["mae"] == 0.0
        assert scores[dim]["n"] == 4


def test_known_values_by_hand():
    true = np.array([1.0, 2.0, 3.0])
    pred = np.array([1.0, 2.0, 4.0])
    assert r2(pred, true) == pytest.approx(0.5)  # SS_res 1, SS_tot 2
    assert rmse(pred, true) == pytest.approx(math.sqrt(1 / 3))
    assert mae(pred, true) == pytest.approx(1 / 3)
    assert pearson(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])) == pytest.approx(0.5)
    assert pearson(-true, true) == pytest.approx(-1.0)
    # shifted by 1: perfectly correlated but not concordant, 2 var / (2 var + 1) with var 2/3
    assert pearson(true + 1, true) == pytest.approx(1.0)
    assert ccc(true + 1, true) == pytest.approx(4 / 7)


def test_constant_prediction_is_scored_not_crashed():
    true = np.array([3.0, 5.0, 7.0, 5.0])
    at_mean = np.full(4, 5.0)
    assert r2(at_mean, true) == pytest.approx(0.0)
    assert ccc(at_mean, true) == pytest.approx(0.0)
    assert math.isnan(pearson(at_mean, true))  # undefined: documented as NaN
    off = np.full(4, 7.0)
    assert r2(off, true) == pytest.approx(-2.0)  # negative: worse than the mean
    assert ccc(off, true) == pytest.approx(0.0)


def test_constant_truth_and_both_constant_give_nan():
    flat = np.full(3, 5.0)
    assert math.isnan(r2(np.array([4.0, 5.0, 6.0]), flat))
    assert math.isnan(pearson(np.array([4.0, 5.0, 6.0]), flat))
    assert math.isnan(ccc(flat, flat))
    single = regression_metrics(np.array([[5.0, 5.0]]), np.array([[6.0, 4.0]]))
    assert single["valence"]["rmse"] == pytest.approx(1.0)
    assert math.isnan(single["valence"]["r2"])


def test_dimensions_are_scored_separately():
    true = np.array([[2.0, 2.0], [5.0, 5.0], [8.0, 8.0]])
    pred = np.array([[2.0, 5.0], [5.0, 5.0], [8.0, 5.0]])
    scores = regression_metrics(pred, true)
    assert scores["valence"]["r2"] == pytest.approx(1.0)
    assert scores["arousal"]["r2"] == pytest.approx(0.0)
    assert math.isnan(scores["arousal"]["pearson"])


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="shape"):
        regression_metrics(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        regression_metrics(np.zeros(3), np.zeros(3))


def test_song_level_means_windows_per_song():
    ids = np.array([7, 3, 7, 3, 3, 12])
    preds = np.array([[1.0, 2.0], [4.0, 4.0], [3.0, 6.0], [5.0, 5.0], [6.0, 6.0], [9.0, 1.0]])
    song_ids, means = song_level(ids, preds)
    assert song_ids.tolist() == [3, 7, 12]
    np.testing.assert_allclose(means, [[5.0, 5.0], [2.0, 4.0], [9.0, 1.0]])
    with pytest.raises(ValueError, match="song ids"):
        song_level(ids[:-1], preds)


def test_quadrants_around_the_centre():
    va = np.array([[7, 7], [3, 7], [3, 3], [7, 3], [5, 5], [4.99, 5], [5, 4.99]])
    assert quadrants(va).tolist() == [0, 1, 2, 3, 0, 1, 3]
    assert QUADRANT_NAMES[0].startswith("Q1") and "happy" in QUADRANT_NAMES[0]
    assert "sad" in QUADRANT_NAMES[2]


def test_confusion_rows_are_truth_columns_prediction():
    true = np.array([[7, 7], [7, 7], [3, 3], [7, 3]])
    pred = np.array([[7, 7], [3, 7], [3, 3], [7, 3]])
    confusion = quadrant_confusion(pred, true)
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 0], expected[0, 1], expected[2, 2], expected[3, 3] = 1, 1, 1, 1
    np.testing.assert_array_equal(confusion, expected)
    assert quadrant_accuracy(confusion) == pytest.approx(0.75)
    assert math.isnan(quadrant_accuracy(np.zeros((4, 4))))
    report = quadrant_report(pred, true)
    assert report["confusion"] == expected.tolist() and report["names"] == list(QUADRANT_NAMES)


def test_frame_metrics_maps_dynamic_labels_and_skips_missing():
    dynamic = np.array([[-0.5, 0.25], [0.0, np.nan], [0.5, -0.75], [np.nan, 0.5]])
    preds = 5.0 + 4.0 * np.nan_to_num(dynamic)  # exact on the 1..9 scale where labelled
    scores = frame_metrics(preds, dynamic)
    assert scores["valence"]["n"] == 3 and scores["arousal"]["n"] == 3
    assert scores["valence"]["r2"] == pytest.approx(1.0)
    assert scores["arousal"]["rmse"] == pytest.approx(0.0)
    assert frame_metrics(preds, np.full((4, 2), np.nan)) is None
    half = frame_metrics(preds, np.column_stack([dynamic[:, 0], np.full(4, np.nan)]))
    assert half["arousal"] is None and half["valence"]["n"] == 3
