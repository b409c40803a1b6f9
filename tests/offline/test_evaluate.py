"""evaluate_clips: window predictions pooled per clip, scored by regression and by quadrant,
beside the baselines (mean and ridge for continuous labels, majority and logistic for
quadrants)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emotrack.offline.clips import from_deam
from emotrack.offline.deam_records import Song
from emotrack.offline.evaluate import BaselineFit, evaluate_clips
from emotrack.offline.metrics import quadrant_scores, quadrants


def test_deam_clips_are_scored_with_the_mean_and_ridge_baselines(deam_evaluation):
    clips, test, result = deam_evaluation.clips, deam_evaluation.test, deam_evaluation.result
    methods = result["methods"]
    assert set(methods) == {"model", "mean", "ridge"}
    assert result["split"] == "test"
    assert result["n_clips"] == 30 and result["n_windows"] == 30 * 4
    for name in ("valence", "arousal"):
        assert methods["model"]["song"][name]["r2"] > 0.8
        assert methods["model"]["song"][name]["n"] == 30
        assert methods["mean"]["song"][name]["r2"] < 0.05  # the mean explains nothing
        assert math.isnan(methods["mean"]["song"][name]["pearson"])
        assert methods["ridge"]["song"][name]["r2"] > 0.5  # the mel statistics carry the label
    frame = methods["model"]["frame"]
    assert frame["valence"]["n"] == 80 and frame["arousal"]["n"] == 120
    assert methods["mean"]["frame"] is None
    # without quadrant labels, every method is judged by the quadrants of the static means
    assert methods["model"]["quadrants"]["n"] == 30 and methods["ridge"]["quadrants"]["n"] == 30
    assert methods["ridge"]["fit"]["alpha"].keys() == {"valence", "arousal"}
    assert methods["ridge"]["fit"]["train_clips"] == 40
    per_clip = result["clips"]
    assert per_clip["keys"] == sorted(test) and len(per_clip["ridge"]) == 30
    assert per_clip["true"][0] == list(clips[per_clip["keys"][0]].static)


def test_window_values_are_pooled_per_clip_by_their_mean(deam_evaluation):
    clips, result = deam_evaluation.clips, deam_evaluation.result
    window_keys, preds = deam_evaluation.window_keys, deam_evaluation.preds
    keys = result["clips"]["keys"]
    for i, key in enumerate(keys):
        np.testing.assert_allclose(result["clips"]["model"][i], preds[window_keys == key].mean(0))
    true_q = quadrants(np.array([clips[k].static for k in keys]))
    pred_q = quadrants(np.array(result["clips"]["model"]))
    assert result["methods"]["model"]["quadrants"] == quadrant_scores(true_q, pred_q)
    assert result["clips"]["quadrant"] == true_q.tolist()


def test_4q_clips_are_scored_by_quadrant_against_hand_counts(fourq_evaluation):
    result, part = fourq_evaluation.result, fourq_evaluation.part
    model = result["methods"]["model"]
    assert model["song"] is None and model["frame"] is None
    assert result["split"] == "val" and result["n_clips"] == 9 and result["n_windows"] == 27
    np.testing.assert_allclose(result["clips"]["model"], [p for _, _, p in part])
    scores = model["quadrants"]
    # true Q1 Q1 Q2 Q2 Q3 Q3 Q4 Q4 Q4, called Q1 Q2 Q2 Q2 Q3 Q4 Q4 Q1 Q4
    assert scores["confusion"] == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 1], [1, 0, 0, 2]]
    assert scores["accuracy"] == pytest.approx(6 / 9)
    f1 = [2 / 4, 4 / 5, 2 / 3, 4 / 6]  # 2 TP / (true + called): Q1 2/(2+2), Q2 4/(2+3), ...
    assert scores["f1"] == pytest.approx(f1)
    assert scores["macro_f1"] == pytest.approx(sum(f1) / 4)
    # signs: clip 2 and 6 miss valence only, clip 8 misses arousal only
    assert scores["valence_accuracy"] == pytest.approx(7 / 9)
    assert scores["arousal_accuracy"] == pytest.approx(8 / 9)
    assert result["clips"]["true"] == [None] * 9
    assert result["clips"]["quadrant"] == [q - 1 for _, q, _ in part]


def test_4q_clips_are_scored_with_the_majority_and_logistic_baselines(fourq_evaluation):
    result = fourq_evaluation.result
    methods = result["methods"]
    assert set(methods) == {"model", "majority", "logistic"}
    majority = methods["majority"]
    assert majority["fit"] == {"quadrant": 3}  # Q4 is the most frequent training quadrant
    # always Q4: right on the 3 Q4 clips; F1 of Q4 = 2*3 / (3 + 9), the others 0
    assert majority["quadrants"]["accuracy"] == pytest.approx(3 / 9)
    assert majority["quadrants"]["macro_f1"] == pytest.approx(0.5 / 4)
    assert majority["quadrants"]["valence_accuracy"] == pytest.approx(5 / 9)  # Q1 and Q4
    logistic = methods["logistic"]
    assert logistic["fit"]["train_clips"] == 36 and logistic["fit"]["val_clips"] == 8
    assert logistic["quadrants"]["macro_f1"] > 0.8  # the features carry the quadrant
    assert majority["song"] is None and "majority" not in result["clips"]


def test_a_part_with_deam_and_4q_clips_scores_each_by_its_own_labels(labelled):
    rng = np.random.default_rng(2)
    deam = [labelled.deam(i, *rng.uniform(2, 8, size=2)) for i in range(1, 31)]
    fourq = [labelled.fourq(i, i % 4 + 1) for i in range(1, 41)]
    clips = {c.key: c for c in deam + fourq}
    train = [c.key for c in deam[:16] + fourq[:24]]
    val = [c.key for c in deam[16:22] + fourq[24:32]]
    test = [c.key for c in deam[22:] + fourq[32:]]
    fit = BaselineFit.from_cache(labelled.loader(rng, clips), train, val, test)
    keys = np.repeat(test, 2)
    values = rng.uniform(1, 9, size=(len(keys), 2))
    result = evaluate_clips(keys, values, clips, baselines=fit)
    methods = result["methods"]
    assert set(methods) == {"model", "mean", "ridge", "majority", "logistic"}
    assert methods["model"]["song"]["valence"]["n"] == 8  # the DEAM clips only
    assert methods["model"]["quadrants"]["n"] == 8  # quadrant labels, where the part has them
    assert methods["ridge"]["quadrants"]["n"] == 8 and methods["majority"]["quadrants"]["n"] == 8
    assert methods["majority"]["song"] is None
    assert (
        methods["ridge"]["fit"]["train_clips"] == 16 and methods["ridge"]["fit"]["val_clips"] == 6
    )
    assert methods["logistic"]["fit"]["train_clips"] == 24
    per_clip = result["clips"]
    assert len(per_clip["ridge"]) == len(per_clip["keys"]) == 16
    true = dict(zip(per_clip["keys"], per_clip["true"], strict=True))
    assert true["deam-23"] == list(clips["deam-23"].static) and true["4q-MT0000000033"] is None
    assert None not in per_clip["quadrant"]  # a DEAM clip's from its static means


def test_clips_without_labels_to_judge_score_nothing():
    clips = {"deam-5": from_deam(Song(5, 2013))}
    result = evaluate_clips(np.array(["deam-5"] * 2), np.full((2, 2), 5.0), clips)
    assert result["methods"]["model"] == {"song": None, "frame": None, "quadrants": None}
    assert result["n_clips"] == 1


def test_baseline_fit_loads_every_clip_once_in_order():
    calls = []

    def load(key):
        calls.append(key)
        return np.full((2, 3, 4), float(key.rsplit("-", 1)[1]), dtype=np.float32)

    fit = BaselineFit.from_cache(load, ["deam-1", "deam-2"], ["deam-3"], ["deam-4", "deam-1"])
    assert calls == ["deam-1", "deam-2", "deam-3", "deam-4"]
    assert fit.train == ["deam-1", "deam-2"] and fit.val == ["deam-3"]
    stacked = fit.stack(["deam-4", "deam-2"])
    assert stacked.shape == (2, 6) and stacked[0, 0] == 4.0 and stacked[1, 0] == 2.0
