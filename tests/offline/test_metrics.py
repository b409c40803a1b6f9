"""Evaluation metrics on inputs whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emotrack.offline.metrics import (
    QUADRANT_NAMES,
    ccc,
    confusion_scores,
    frame_metrics,
    mae,
    pearson,
    quadrant_scores,
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
    ids = np.array(["deam-7", "4q-MT3", "deam-7", "4q-MT3", "4q-MT3", "deam-12"])
    preds = np.array([[1.0, 2.0], [4.0, 4.0], [3.0, 6.0], [5.0, 5.0], [6.0, 6.0], [9.0, 1.0]])
    song_ids, means = song_level(ids, preds)
    assert song_ids.tolist() == ["4q-MT3", "deam-12", "deam-7"]  # sorted keys
    np.testing.assert_allclose(means, [[5.0, 5.0], [9.0, 1.0], [2.0, 4.0]])
    with pytest.raises(ValueError, match="song ids"):
        song_level(ids[:-1], preds)


def test_quadrants_around_the_centre():
    va = np.array([[7, 7], [3, 7], [3, 3], [7, 3], [5, 5], [4.99, 5], [5, 4.99]])
    assert quadrants(va).tolist() == [0, 1, 2, 3, 0, 1, 3]
    assert QUADRANT_NAMES[0].startswith("Q1") and "happy" in QUADRANT_NAMES[0]
    assert "sad" in QUADRANT_NAMES[2]


# rows true Q1..Q4, columns predicted; worked by hand below
CONFUSION = np.array(
    [
        [4, 1, 0, 1],  # 6 clips of Q1
        [2, 3, 1, 0],  # 6 of Q2
        [0, 0, 5, 1],  # 6 of Q3
        [1, 0, 2, 1],  # 4 of Q4
    ]
)


def test_confusion_scores_against_hand_computed_values():
    scores = confusion_scores(CONFUSION)
    assert scores["n"] == 22 and scores["confusion"] == CONFUSION.tolist()
    assert scores["names"] == list(QUADRANT_NAMES)
    assert scores["accuracy"] == pytest.approx((4 + 3 + 5 + 1) / 22)
    # F1 = 2 TP / (row + column): Q1 8/(6+7), Q2 6/(6+4), Q3 10/(6+8), Q4 2/(4+3)
    f1 = [8 / 13, 6 / 10, 10 / 14, 2 / 7]
    assert scores["f1"] == pytest.approx(f1)
    assert scores["macro_f1"] == pytest.approx(sum(f1) / 4)
    # valence right: true and predicted both in {Q1, Q4} or both in {Q2, Q3}
    # Q1 row 4+1, Q2 row 3+1, Q3 row 0+5, Q4 row 1+1 -> 16
    assert scores["valence_accuracy"] == pytest.approx(16 / 22)
    # arousal right: both in {Q1, Q2} or both in {Q3, Q4}: 5 + 5 + 6 + 3 -> 19
    assert scores["arousal_accuracy"] == pytest.approx(19 / 22)


def test_quadrant_scores_count_rows_as_truth_and_columns_as_prediction():
    true, pred = [], []
    for t in range(4):
        for p in range(4):
            true += [t] * int(CONFUSION[t, p])
            pred += [p] * int(CONFUSION[t, p])
    order = np.random.default_rng(0).permutation(len(true))
    scores = quadrant_scores(np.array(true)[order], np.array(pred)[order])
    assert scores == confusion_scores(CONFUSION)
    swapped = quadrant_scores(np.array(pred), np.array(true))
    assert swapped["confusion"] == CONFUSION.T.tolist()


def test_quadrants_that_never_occur_are_left_out_of_macro_f1():
    scores = quadrant_scores(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    assert scores["f1"][2] is None and scores["f1"][3] is None
    assert scores["f1"][:2] == pytest.approx([2 / 3, 4 / 5])
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    predicted_only = quadrant_scores(np.array([0, 0]), np.array([0, 2]))
    assert predicted_only["f1"] == pytest.approx([2 / 3, None, 0.0, None])
    assert predicted_only["macro_f1"] == pytest.approx(1 / 3)  # a wrong guess counts
    perfect = quadrant_scores(np.arange(4), np.arange(4))
    assert perfect["macro_f1"] == perfect["accuracy"] == 1.0
    assert perfect["valence_accuracy"] == perfect["arousal_accuracy"] == 1.0


def test_an_empty_confusion_matrix_scores_nan_and_bad_input_is_refused():
    empty = confusion_scores(np.zeros((4, 4), dtype=int))
    assert math.isnan(empty["accuracy"]) and math.isnan(empty["macro_f1"])
    assert math.isnan(empty["valence_accuracy"]) and empty["f1"] == [None] * 4
    with pytest.raises(ValueError, match="no quadrants"):
        quadrant_scores(np.array([], dtype=int), np.array([], dtype=int))
    with pytest.raises(ValueError, match="3 predicted quadrants for 2"):
        quadrant_scores(np.array([0, 1]), np.array([0, 1, 2]))


def test_predicted_values_become_quadrants_to_score():
    true = quadrants(np.array([[7, 7], [7, 7], [3, 3], [7, 3]]))
    pred = quadrants(np.array([[7, 7], [3, 7], [3, 3], [7, 3]]))
    scores = quadrant_scores(true, pred)
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 0], expected[0, 1], expected[2, 2], expected[3, 3] = 1, 1, 1, 1
    assert scores["confusion"] == expected.tolist()
    assert scores["accuracy"] == pytest.approx(0.75)
    assert scores["valence_accuracy"] == pytest.approx(0.75)
    assert scores["arousal_accuracy"] == 1.0


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
