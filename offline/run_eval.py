"""Evaluation inside a training run: window predictions, a part's loss and scores, the number
that picks the best epoch, the epoch's log line and the best model's test report."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from emotrack.models.atomic import write_json
from emotrack.models.emotion import DIMENSIONS, EmotionModel, read_checkpoint
from emotrack.models.frontend import FrontEnd
from emotrack.offline.data import Data
from emotrack.offline.dataset import DeviceWindows, WindowSet
from emotrack.offline.evaluate import BaselineFit, evaluate_clips
from emotrack.offline.log import log
from emotrack.offline.run_folder import FILES

if TYPE_CHECKING:
    from emotrack.offline.trainer import Trainer


@dataclass
class Evaluator:
    """Scores a run's model on one part of its data: eval mode, no augmentation."""

    model: EmotionModel
    front_end: FrontEnd
    data: Data
    kinds: list[str]  # the continuous label kinds the run trains on
    loss: Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]
    device: torch.device
    amp_dtype: torch.dtype | None
    batch_size: int  # of training; prediction batches are twice as large

    @torch.no_grad()
    def predict(self, windows: DeviceWindows) -> torch.Tensor:
        """Window head outputs (N, 2) on the CPU."""
        self.model.eval()
        size = 2 * self.batch_size
        out = []
        for start in range(0, len(windows), size):
            index = torch.arange(start, min(start + size, len(windows)))
            features, _ = windows.batch(index)
            with torch.autocast(
                self.device.type,
                dtype=self.amp_dtype or torch.float32,
                enabled=bool(self.amp_dtype),
            ):
                z = self.model(self.front_end.from_features(features))
            out.append(z.float().cpu())
        return torch.cat(out)

    def evaluate(self, part: str, windows: DeviceWindows, baselines=None) -> dict:
        """Loss and clip/frame scores of one part (``evaluate_clips``' dict)."""
        z = self.predict(windows)
        ws: WindowSet = self.data.parts[part]
        values = self.model.to_values(z.to(self.device)).cpu().numpy()
        metrics = evaluate_clips(
            ws.keys,
            values,
            self.data.clips,
            ws.targets["dynamic"] if "dynamic" in self.kinds else None,
            baselines=baselines,
            split=part,
        )
        targets = {k: v.to(self.device) for k, v in windows.targets.items()}
        metrics["loss"] = float(self.loss(z.to(self.device), targets))
        return metrics


def scores(metrics: dict, prefix: str = "val") -> dict[str, float]:
    """The numbers a part is judged by: per-dimension R² and CCC (song level; per frame when
    only dynamic labels exist) and the quadrant macro-F1 and accuracy."""
    model = metrics["methods"]["model"]
    out = {}
    level = model["song"] or model["frame"]
    if level:
        for name in ("r2", "ccc"):
            for dim in DIMENSIONS:
                out[f"{prefix}_{name}_{dim}"] = (level.get(dim) or {}).get(name, math.nan)
    if model["quadrants"]:
        out[f"{prefix}_macro_f1"] = model["quadrants"]["macro_f1"]
        out[f"{prefix}_accuracy"] = model["quadrants"]["accuracy"]
    return out


def monitored_score(monitor: str, metrics: dict, val_scores: dict[str, float]) -> float:
    """The number that picks the best epoch (higher is better): minus the val loss, the val
    macro-F1 or the mean val R² of the dimensions."""
    if monitor == "loss":
        return -metrics["loss"]
    if monitor == "f1":
        return val_scores.get("val_macro_f1", math.nan)
    return float(np.mean([val_scores.get(f"val_r2_{d}", math.nan) for d in DIMENSIONS]))


def epoch_line(s: dict, epochs: int) -> str:
    """The log line of one epoch's history entry."""
    parts = [f"epoch {s['epoch']}/{epochs}", f"train_loss {s['train_loss']:.4f}"]
    if "val_loss" in s:
        parts.append(f"val_loss {s['val_loss']:.4f}")
    if "val_r2_valence" in s:
        parts.append(f"val R² valence {s['val_r2_valence']:.3f} arousal {s['val_r2_arousal']:.3f}")
    if "val_macro_f1" in s:
        parts.append(f"val macro-F1 {s['val_macro_f1']:.3f} acc {s['val_accuracy']:.3f}")
    parts.append(f"lr {s['lr']:.2e}")
    parts.append(f"{s['seconds']:.1f} s ({s['train_windows_per_s']:,.0f} windows/s)")
    return "  ".join(parts) + ("  *best" if s["best"] and "val_loss" in s else "")


def test_best(trainer: Trainer) -> dict | None:
    """Rank 0, after training: the best model on the test part -> metrics.json, report.md,
    plots; returns the test metrics (None without a test part)."""
    from emotrack.offline.report import write_report

    run_dir, data, config = trainer.run_dir, trainer.data, trainer.config
    write_json(run_dir / FILES["history"], trainer.history)  # also after a late kill
    if "test" not in data.parts:
        return None
    best = run_dir / FILES["best"]
    if best.is_file():
        trainer.model.load_state_dict(read_checkpoint(best)["state_dict"])
    split = data.split
    windows = {k: v for part in data.parts.values() for k, v in part.clip_features().items()}
    baselines = BaselineFit.from_cache(windows.__getitem__, split.train, split.val, split.test)
    test_set = DeviceWindows(data.parts["test"], data.scale, trainer.device, trainer.resident)
    metrics = trainer.evaluator.evaluate("test", test_set, baselines)
    extra = {
        "run": str(run_dir),
        "backbone": config.backbone,
        "datasets": list(config.dataset),
        "labels": config.labels,
        "output_scale": data.scale.output_scale,
        "meaning": data.scale.meaning,
        "shuffled_labels": config.shuffle_labels,
        "best_epoch": trainer.best_epoch,
        "epochs_trained": trainer.epoch,
        "val_best": next((h for h in trainer.history if h["epoch"] == trainer.best_epoch), None),
    }
    report = write_report(
        run_dir, metrics, trainer.history, extra, title=f"emotrack run {run_dir.name}"
    )
    test_scores = scores(metrics, "test")
    text = "; ".join(f"{k.removeprefix('test_')} {v:.3f}" for k, v in test_scores.items())
    log(f"test, best epoch {trainer.best_epoch}: {text} | {report}")
    return metrics
