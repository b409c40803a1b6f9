"""Cross-validation: fold scores with mean ± std, and `emotrack-train --folds` end to end on a
generated 4Q (artist-disjoint folds, the CV report and confusion matrix, a final model the
tracker loads, resume skipping finished folds)."""

from __future__ import annotations

import io
import json
import math
import shutil
import statistics
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from emotrack.models.emotion import PROBABILITY_SCALE, load_model, read_checkpoint
from emotrack.offline.cv import CV_FILE, FINAL_DIR, FOLDS_FILE, fold_dir, render_table, summarise
from emotrack.offline.metrics import confusion_scores
from emotrack.offline.train_cli import main

CLIPS, SECONDS, FOLDS = 24, 8.0, 3


def _fold(confusion, best_epoch, majority_f1=None, r2=None) -> tuple[dict, int]:
    """A fold's metrics as a run writes them."""
    methods = {"model": {"song": None, "frame": None, "quadrants": confusion_scores(confusion)}}
    if majority_f1 is not None:
        majority = confusion_scores(np.diag([2, 0, 0, 0]))
        majority["macro_f1"] = majority_f1
        methods["majority"] = {"song": None, "frame": None, "quadrants": majority}
    if r2 is not None:
        song = {d: {"r2": r2, "ccc": 0.5} for d in ("valence", "arousal")}
        methods["model"]["song"] = song
    return {"n_clips": int(np.sum(confusion)), "methods": methods}, best_epoch


CONFUSIONS = [
    np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 2]]),  # all right
    np.array([[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 1], [0, 0, 0, 2]]),
    np.array([[2, 0, 0, 0], [2, 0, 0, 0], [0, 0, 2, 0], [0, 0, 2, 0]]),
]


def test_summary_gives_each_fold_mean_std_and_the_pooled_confusion():
    epochs = (3, 5, 4)
    results = [_fold(c, epochs[i], majority_f1=0.1 * (i + 1)) for i, c in enumerate(CONFUSIONS)]
    summary = summarise(results)
    assert [f["best_epoch"] for f in summary["folds"]] == [3, 5, 4]
    assert [f["clips"] for f in summary["folds"]] == [8, 8, 8]
    f1s = [confusion_scores(c)["macro_f1"] for c in CONFUSIONS]
    assert [f["methods"]["model"]["macro_f1"] for f in summary["folds"]] == pytest.approx(f1s)
    model = summary["mean_std"]["model"]
    assert model["macro_f1"]["mean"] == pytest.approx(statistics.mean(f1s))
    assert model["macro_f1"]["std"] == pytest.approx(statistics.stdev(f1s))  # ddof 1
    assert model["macro_f1"]["n"] == 3
    accuracies = [1.0, 6 / 8, 4 / 8]
    assert model["accuracy"]["mean"] == pytest.approx(statistics.mean(accuracies))
    assert summary["mean_std"]["majority"]["macro_f1"]["mean"] == pytest.approx(0.2)
    assert list(summary["mean_std"]) == ["model", "majority"]
    pooled = summary["pooled"]["model"]
    assert pooled["confusion"] == sum(CONFUSIONS).tolist() and pooled["n"] == 24
    assert pooled == confusion_scores(sum(CONFUSIONS))


def test_undefined_fold_scores_are_left_out_of_the_mean():
    results = [_fold(c, 1, r2=r) for c, r in zip(CONFUSIONS, (0.5, math.nan, 0.3), strict=True)]
    summary = summarise(results)
    r2 = summary["mean_std"]["model"]["r2_valence"]
    assert r2["mean"] == pytest.approx(0.4) and r2["n"] == 2
    one = summarise(results[:1])["mean_std"]["model"]["macro_f1"]
    assert one["mean"] == 1.0 and math.isnan(one["std"])  # no spread from one fold


def test_the_table_has_a_row_per_fold_and_a_mean_std_row():
    results = [_fold(c, e, majority_f1=0.25) for c, e in zip(CONFUSIONS, (3, 5, 4), strict=True)]
    table = render_table(summarise(results)).splitlines()
    assert table[0].startswith("| fold | clips | model macro_f1 | model accuracy |")
    assert "majority macro_f1" in table[0] and table[0].endswith("best epoch |")
    assert len(table) == 2 + 3 + 1
    assert table[2].startswith("| 1 | 8 | 1.000 | 1.000 |") and table[2].endswith("| 3 |")
    f1s = [confusion_scores(c)["macro_f1"] for c in CONFUSIONS]
    mean, std = statistics.mean(f1s), statistics.stdev(f1s)
    assert table[-1].startswith(f"| mean ± std |  | {mean:.3f} ± {std:.3f} |")
    assert "0.250 ± 0.000" in table[-1]
    regression = render_table(summarise([_fold(CONFUSIONS[0], 1, r2=0.5)] * 2))
    assert "model macro_f1" in regression  # quadrant scores lead whenever there are any


# ---------------------------------------------------------------------------- end to end


def _cv_args(out: Path, *extra: str) -> list[str]:
    return [
        "--dataset", "4q",
        "--synthetic", str(CLIPS),
        "--synthetic-seconds", str(SECONDS),
        "--backbone", "cnn",
        "--folds", str(FOLDS),
        "--epochs", "2",
        "--windows", "2",
        "--batch-size", "8",
        "--workers", "1",
        "--device", "cpu",
        "--out", str(out),
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    """One `emotrack-train --dataset 4q --synthetic 24 --folds 3` run: (folder, stderr)."""
    run = tmp_path_factory.mktemp("cv") / "run"
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stderr", err)  # what the user reads
        code = main(_cv_args(run))
    assert code == 0, err.getvalue()[-3000:]
    return run, err.getvalue()


def test_cv_writes_folds_scores_report_and_confusion(cv_run):
    run, err = cv_run
    folds = json.loads((run / FOLDS_FILE).read_text())
    assert len(folds) == FOLDS
    manifest = json.loads((run / "data" / "4q" / "synthetic.json").read_text())
    artist = {f"4q-{c['song']}": c["artist"].casefold() for c in manifest["clips"]}
    quadrant = {f"4q-{c['song']}": c["quadrant"] for c in manifest["clips"]}
    tested = Counter(k for fold in folds for k in fold["test"])
    assert set(tested) == set(artist) and set(tested.values()) == {1}
    for fold in folds:
        sides = [{artist[k] for k in fold[part]} for part in ("train", "val", "test")]
        assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
        assert set(Counter(quadrant[k] for k in fold["test"])) == {1, 2, 3, 4}

    cv = json.loads((run / CV_FILE).read_text())
    assert len(cv["folds"]) == FOLDS and {"model", "majority", "logistic"} <= set(cv["mean_std"])
    model = cv["mean_std"]["model"]
    for key in ("macro_f1", "accuracy", "valence_accuracy", "arousal_accuracy"):
        assert model[key]["n"] == FOLDS and 0.0 <= model[key]["mean"] <= 1.0
    assert cv["pooled"]["model"]["n"] == CLIPS
    f1s = [fold["methods"]["model"]["macro_f1"] for fold in cv["folds"]]
    assert model["macro_f1"]["mean"] == pytest.approx(np.mean(f1s))

    report = (run / "report.md").read_text()
    mean_row = next(line for line in report.splitlines() if line.startswith("| mean ± std |"))
    assert f"{model['macro_f1']['mean']:.3f} ± {model['macro_f1']['std']:.3f}" in mean_row
    assert "split by artist" in report and "(plots/confusion.png)" in report
    assert (run / "plots" / "confusion.png").read_bytes().startswith(b"\x89PNG")
    assert "| mean ± std |" in err  # the CV table is printed too

    for i in range(1, FOLDS + 1):
        folder = fold_dir(run, i)
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["n_clips"] == len(folds[i - 1]["test"])
        assert metrics["output_scale"] == PROBABILITY_SCALE
        assert (folder / "plots" / "confusion.png").is_file() and (folder / "report.md").is_file()
        assert json.loads((folder / "split.json").read_text()) == folds[i - 1]


def test_the_final_model_learned_every_clip_and_loads_from_the_run_folder(cv_run):
    run, err = cv_run
    final = run / FINAL_DIR
    split = json.loads((final / "split.json").read_text())
    assert len(split["train"]) == CLIPS and split["val"] == split["test"] == []
    cv = json.loads((run / CV_FILE).read_text())
    epochs = max(1, round(statistics.median(f["best_epoch"] for f in cv["folds"])))
    assert read_checkpoint(final / "last.pt")["epoch"] == epochs
    assert f"final model on all {CLIPS} clips for {epochs} epochs" in err
    model = load_model(run)  # a CV folder means its final model
    assert model.labels.output_scale == PROBABILITY_SCALE
    with torch.no_grad():
        values = model.to_values(model(torch.randn(4, *model.audio.input_shape)))
    assert values.shape == (4, 2) and ((values > 1) & (values < 9)).all()


def test_a_resumed_cv_skips_finished_folds(cv_run, tmp_path, capsys):
    original, _ = cv_run
    run = tmp_path / "run"
    shutil.copytree(original, run)
    redo = fold_dir(run, FOLDS)
    before = json.loads((redo / "history.json").read_text())
    kept = {p: p.read_bytes() for p in fold_dir(run, 1).rglob("*") if p.is_file()}
    shutil.rmtree(redo)  # as if the run had been killed before the last fold
    (run / CV_FILE).unlink()
    assert main(["--resume", str(run)]) == 0
    err = capsys.readouterr().err
    assert "fold 1/3: done before" in err and "fold 2/3: done before" in err
    assert f"fold {FOLDS}/3: " in err and f"-> {redo}" in err
    assert {p: p.read_bytes() for p in fold_dir(run, 1).rglob("*") if p.is_file()} == kept
    after = json.loads((redo / "history.json").read_text())
    for old, new in zip(before, after, strict=True):  # the same seeded fold again
        assert new["train_loss"] == pytest.approx(old["train_loss"], rel=1e-3, abs=1e-3)
    cv = json.loads((run / CV_FILE).read_text())
    assert len(cv["folds"]) == FOLDS
    assert json.loads((run / FOLDS_FILE).read_text()) == json.loads(
        (original / FOLDS_FILE).read_text()
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--folds", "2"], "at least 3 folds"),
        (["--split", "music2emo"], "--folds makes its own splits"),
    ],
)
def test_bad_cv_options_exit_2(tmp_path, capsys, extra, message):
    assert main(_cv_args(tmp_path / "bad") + extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_split_seed_keeps_the_folds_while_the_seed_changes(cv_run, tmp_path):
    run, _ = cv_run
    other = tmp_path / "other"
    args = _cv_args(other, "--seed", "1", "--split-seed", "0", "--epochs", "1", "--no-final")
    assert main(args) == 0
    folds = json.loads((run / FOLDS_FILE).read_text())
    assert json.loads((other / FOLDS_FILE).read_text()) == folds
    config = json.loads((other / "config.json").read_text())
    assert config["seed"] == 1 and config["split_seed"] == 0
