"""K-fold cross-validation: one run per fold, their scores with mean and spread, a final model.

Folds come from :func:`~emotrack.offline.splits.cross_validation`: by group (a 4Q artist is
never on two sides) and stratified (each quadrant's share in every fold). Fold ``i`` trains in
``fold-<i>/`` as a normal run would (its own report there). The run folder then holds
``folds.json`` (the splits), ``cv.json`` (every fold's scores, mean and std over folds, the
out-of-fold confusion summed), ``report.md`` and ``plots/confusion.png``. With ``final`` a model
is trained on every clip in ``final/`` for the median of the folds' best epochs: that is the
model to ship, and the CV numbers are what its recipe scores on clips it has not heard. A
resumed cross-validation skips finished folds and resumes the one that was cut off.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from emotrack.models.atomic import write_atomic, write_json
from emotrack.offline.data import Pool
from emotrack.offline.distributed import Dist
from emotrack.offline.log import log
from emotrack.offline.metrics import confusion_scores
from emotrack.offline.plots import plot_confusion
from emotrack.offline.report import METHOD_LABELS, fmt, quadrant_table
from emotrack.offline.splits import Split, cross_validation

FOLDS_FILE = "folds.json"
CV_FILE = "cv.json"
FINAL_DIR = "final"
QUADRANT_KEYS = ("macro_f1", "accuracy", "valence_accuracy", "arousal_accuracy")
REGRESSION_KEYS = ("r2", "ccc")


def fold_dir(run_dir: Path, fold: int) -> Path:
    return run_dir / f"fold-{fold:02d}"


def cross_validate(config, pool: Pool, run_dir: Path, ctx: Dist, device: torch.device) -> dict:
    """Train every fold (skipping finished ones), summarise, train the final model; rank 0
    returns the summary written to ``cv.json``."""
    from emotrack.offline.train import run_split

    splits = _folds(config, pool, run_dir, ctx)
    results = []
    for i, split in enumerate(splits, start=1):
        folder = fold_dir(run_dir, i)
        done = folder / "metrics.json"
        if done.is_file():
            saved = json.loads(done.read_text())
            results.append((saved, saved.get("best_epoch", 0)))
            if ctx.main:
                log(f"fold {i}/{len(splits)}: done before, {_line(saved)}")
            continue
        if ctx.main:
            sizes = "/".join(str(len(keys)) for keys in (split.train, split.val, split.test))
            log(f"fold {i}/{len(splits)}: {sizes} train/val/test clips")
        metrics, best_epoch = run_split(config, pool, split, folder, ctx, device)
        results.append((metrics, best_epoch))
    summary = summarise(results) if ctx.main else None
    if ctx.main:
        _write(run_dir, summary)
        log(render_table(summary))
    if config.final:
        epochs = max(1, int(round(statistics.median(e for _, e in results)))) if ctx.main else 0
        from emotrack.offline import distributed

        epochs = distributed.broadcast(ctx, epochs)
        final = replace(config, epochs=epochs, patience=epochs + 1)
        every = Split(sorted(pool.clips), [], [])
        if ctx.main:
            log(f"final model on all {len(every.train)} clips for {epochs} epochs (median best)")
        run_split(final, pool, every, run_dir / FINAL_DIR, ctx, device)
    return summary


def _folds(config, pool: Pool, run_dir: Path, ctx: Dist) -> list[Split]:
    """The saved folds of a resumed run, else new ones (written by rank 0)."""
    path = run_dir / FOLDS_FILE
    if config.resume and path.is_file():
        return [Split.from_dict(part) for part in json.loads(path.read_text())]
    splits = cross_validation(list(pool.clips.values()), config.folds, config.splitting_seed)
    if ctx.main:
        write_json(path, [split.to_dict() for split in splits])
    return splits


def summarise(results: list[tuple[dict, int]]) -> dict:
    """Per-fold scores of the model and each baseline, their mean and std over the folds, and
    the confusion matrix of all out-of-fold predictions."""
    folds = []
    pooled: dict[str, np.ndarray] = {}
    for metrics, best_epoch in results:
        entry = {"clips": metrics["n_clips"], "best_epoch": best_epoch, "methods": {}}
        for name, method in metrics["methods"].items():
            scores = {}
            if method.get("quadrants"):
                scores |= {k: method["quadrants"][k] for k in QUADRANT_KEYS}
                confusion = np.array(method["quadrants"]["confusion"])
                pooled[name] = pooled.get(name, 0) + confusion
            for dim, values in (method.get("song") or {}).items():
                scores |= {f"{k}_{dim}": values[k] for k in REGRESSION_KEYS}
            entry["methods"][name] = scores
        folds.append(entry)
    methods = sorted({n for f in folds for n in f["methods"]}, key=list(METHOD_LABELS).index)
    aggregate = {}
    for name in methods:
        keys = sorted({k for f in folds for k in f["methods"].get(name, {})})
        aggregate[name] = {}
        for key in keys:
            values = [f["methods"].get(name, {}).get(key) for f in folds]
            values = [v for v in values if v is not None and math.isfinite(v)]
            aggregate[name][key] = {
                "mean": float(np.mean(values)) if values else math.nan,
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan,
                "n": len(values),
            }
    return {
        "folds": folds,
        "mean_std": aggregate,
        "pooled": {name: confusion_scores(c) for name, c in pooled.items()},
    }


def _line(metrics: dict) -> str:
    q = metrics["methods"]["model"].get("quadrants")
    return f"macro-F1 {fmt(q['macro_f1'])}, accuracy {fmt(q['accuracy'])}" if q else "scored"


def render_table(summary: dict) -> str:
    """The CV table: one row per fold with the model's and baselines' scores, then mean ± std."""
    methods = list(summary["mean_std"])
    quadrant = "macro_f1" in summary["mean_std"].get("model", {})
    keys = QUADRANT_KEYS if quadrant else ("r2_valence", "r2_arousal")
    head = ["fold", "clips", *(f"model {k}" for k in keys)]
    head += [f"{m} {keys[0]}" for m in methods if m != "model"] + ["best epoch"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, fold in enumerate(summary["folds"], start=1):
        model = fold["methods"].get("model", {})
        cells = [str(i), str(fold["clips"]), *(fmt(model.get(k)) for k in keys)]
        cells += [fmt(fold["methods"].get(m, {}).get(keys[0])) for m in methods if m != "model"]
        rows.append("| " + " | ".join([*cells, str(fold["best_epoch"])]) + " |")
    stats = summary["mean_std"]

    def spread(name: str, key: str) -> str:
        value = stats.get(name, {}).get(key)
        return "n/a" if value is None else f"{fmt(value['mean'])} ± {fmt(value['std'])}"

    cells = ["mean ± std", "", *(spread("model", k) for k in keys)]
    cells += [spread(m, keys[0]) for m in methods if m != "model"]
    rows.append("| " + " | ".join([*cells, ""]) + " |")
    return "\n".join(rows)


def _write(run_dir: Path, summary: dict) -> None:
    write_json(run_dir / CV_FILE, summary)
    lines = [
        f"# emotrack cross-validation {run_dir.name}",
        "",
        f"{len(summary['folds'])} folds, split by artist (an artist is never on two sides) and "
        "stratified by quadrant; each fold's model picked its best epoch on a validation part "
        "of other artists and is scored on its test part. Mean ± std over folds "
        "(std with ddof 1).",
        "",
        render_table(summary),
    ]
    pooled = summary["pooled"]
    if pooled:
        lines += [
            "",
            "## All out-of-fold predictions together",
            "",
            *quadrant_table({name: {"quadrants": scores} for name, scores in pooled.items()}),
            "",
            "- [confusion](plots/confusion.png)",
        ]
        plot_confusion(
            np.array(pooled["model"]["confusion"]),
            run_dir / "plots" / "confusion.png",
            label="model, all folds",
        )
    write_atomic(run_dir / "report.md", "\n".join(lines) + "\n")
