"""write_report on evaluate_clips' scores: what a run folder ends up holding."""

from __future__ import annotations

import json

import numpy as np

from emotrack.offline.clips import from_deam
from emotrack.offline.deam_records import Song
from emotrack.offline.evaluate import evaluate_clips
from emotrack.offline.report import PLOT_FILES, write_report


def test_write_report_writes_json_markdown_and_plots(tmp_path, deam_evaluation):
    deam_scores = deam_evaluation.result
    history = [{"epoch": 1, "train_loss": 0.8, "val_loss": 0.9, "val_r2_valence": 0.2}]
    report = write_report(tmp_path, deam_scores, history, extra={"backbone": "cnn"}, title="t")
    assert report == tmp_path / "report.md"
    text = report.read_text()
    assert text.startswith("# t\n") and "30 clips, 120 windows" in text
    for label in ("| valence | model |", "mean baseline", "ridge on pooled mel stats"):
        assert label in text
    assert "## Per frame" in text and "Q3 sad/depressed" in text and "## Quadrants" in text
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


def test_a_quadrant_report_has_the_quadrant_table_and_confusion_only(tmp_path, fourq_evaluation):
    scores = fourq_evaluation.result
    history = [{"epoch": 1, "train_loss": 0.7, "val_loss": 0.6, "val_macro_f1": 0.5}]
    write_report(tmp_path, scores, history)
    text = (tmp_path / "report.md").read_text()
    assert "## Song level" not in text and "## Per frame" not in text
    lines = text.splitlines()
    head = next(line for line in lines if line.startswith("| method |"))
    assert "macro-F1" in head and "valence sign" in head and "F1 Q4" in head
    model = next(line for line in lines if line.startswith("| model |"))
    # macro-F1, accuracy, valence sign, arousal sign of the hand-counted example, n = 9 clips
    assert model.startswith("| model | 0.658 | 0.667 | 0.778 | 0.889 | 0.500 |")
    assert model.endswith("| 9 |")
    assert "majority quadrant baseline" in text and "logistic regression on pooled" in text
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "confusion.png",
        "history.png",
    ]
    assert "(plots/confusion.png)" in text and "predictions.png" not in text
    assert json.loads((tmp_path / "metrics.json").read_text())["methods"]["model"]["song"] is None


def test_report_of_a_constant_model_without_baselines(tmp_path):
    clips = {
        c.key: c
        for c in (
            from_deam(Song(i, 2013, valence_mean=v, arousal_mean=a))
            for i, (v, a) in enumerate([(2.0, 3.0), (5.0, 5.0), (8.0, 7.0)], start=1)
        )
    }
    keys = np.repeat(list(clips), 2)
    result = evaluate_clips(keys, np.full((6, 2), 5.0), clips)
    write_report(tmp_path, result, history=[])
    text = (tmp_path / "report.md").read_text()
    assert "| valence | model | 0.000 |" in text and "n/a" in text
    assert json.loads((tmp_path / "metrics.json").read_text())["methods"]["model"]["frame"] is None
