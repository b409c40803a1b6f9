"""evaluate_predictions + write_report: what a run folder ends up holding."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emotrack.offline.baselines import BaselineInputs
from emotrack.offline.report import PLOT_FILES, evaluate_predictions, write_report

WINDOWS_PER_SONG = 4


def _songs(rng, ids):
    """Song-level (v, a) labels tied to a loud band in each song's log-mel windows, so ridge
    on mel statistics has something to find."""
    labels = {int(i): rng.uniform(2, 8, size=2) for i in ids}

    def load(song_id):
        windows = rng.normal(size=(WINDOWS_PER_SONG, 8, 12)).astype(np.float32)
        windows[:, 0] += labels[song_id][0]
        windows[:, 1] += labels[song_id][1]
        return windows

    return labels, load


@pytest.fixture(scope="module")
def evaluation():
    rng = np.random.default_rng(0)
    labels, load = _songs(rng, range(1, 91))
    test_ids = list(range(61, 91))
    window_ids = np.repeat(test_ids, WINDOWS_PER_SONG)
    static = np.array([labels[i] for i in window_ids])
    preds = static + rng.normal(scale=0.5, size=static.shape)
    dynamic = (static - 5) / 4 + rng.normal(scale=0.05, size=static.shape)
    dynamic[::3, 0] = np.nan
    baselines = BaselineInputs.from_cache(load, labels, range(1, 41), range(41, 61), test_ids[::-1])
    return evaluate_predictions(window_ids, preds, static, dynamic, baselines)


def test_evaluation_scores_model_and_both_baselines(evaluation):
    methods = evaluation["methods"]
    assert set(methods) == {"model", "mean", "ridge"}
    assert evaluation["n_songs"] == 30 and evaluation["n_windows"] == 30 * WINDOWS_PER_SONG
    for name in ("valence", "arousal"):
        assert methods["model"]["song"][name]["r2"] > 0.8
        assert methods["mean"]["song"][name]["r2"] < 0.05  # the mean explains nothing
        assert math.isnan(methods["mean"]["song"][name]["pearson"])
        assert methods["ridge"]["song"][name]["r2"] > 0.5  # the mel statistics carry the label
    frame = methods["model"]["frame"]
    assert frame["valence"]["n"] == 80 and frame["arousal"]["n"] == 120
    assert methods["mean"]["frame"] is None
    assert np.array(methods["model"]["quadrants"]["confusion"]).sum() == 30
    assert len(evaluation["songs"]["ridge"]) == 30


def test_songs_without_static_label_are_left_out():
    static = np.array([[3.0, 4.0]] * 2 + [[np.nan, np.nan]] * 2 + [[7.0, 6.0]] * 2)
    result = evaluate_predictions(np.array([1, 1, 2, 2, 3, 3]), static + 0.1, static)
    assert result["songs"]["ids"] == [1, 3] and "mean" not in result["methods"]
    with pytest.raises(ValueError, match="static label"):
        evaluate_predictions(np.array([2, 2]), np.ones((2, 2)), np.full((2, 2), np.nan))


def test_write_report_writes_json_markdown_and_plots(tmp_path, evaluation):
    history = [{"epoch": 1, "train_loss": 0.8, "val_loss": 0.9, "val_r2_valence": 0.2}]
    report = write_report(tmp_path, evaluation, history, extra={"backbone": "cnn"}, title="t")
    assert report == tmp_path / "report.md"
    text = report.read_text()
    for label in ("| valence | model |", "mean baseline", "ridge on pooled mel stats"):
        assert label in text
    assert "## Per frame" in text and "Q3 sad/depressed" in text
    for name in PLOT_FILES.values():
        assert f"(plots/{name})" in text
        assert (tmp_path / "plots" / name).stat().st_size > 5_000
    raw = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in raw  # strict JSON: undefined values are null
    metrics = json.loads(raw)
    assert metrics["backbone"] == "cnn"
    assert metrics["methods"]["mean"]["song"]["valence"]["pearson"] is None
    assert metrics["methods"]["ridge"]["fit"]["alpha"].keys() == {"valence", "arousal"}
    assert not list(tmp_path.rglob(".*.tmp"))


def test_report_of_a_constant_model_without_baselines(tmp_path):
    ids = np.repeat([1, 2, 3], 2)
    static = np.repeat([[2.0, 3.0], [5.0, 5.0], [8.0, 7.0]], 2, axis=0)
    result = evaluate_predictions(ids, np.full((6, 2), 5.0), static)
    write_report(tmp_path, result, history=[])
    text = (tmp_path / "report.md").read_text()
    assert "| valence | model | 0.000 |" in text and "n/a" in text
    assert json.loads((tmp_path / "metrics.json").read_text())["methods"]["model"]["frame"] is None
