"""The epoch loop of one training run: sampling, augmentation, losses, the learning rate and
the best-epoch bookkeeping.

Each window contributes the losses its labels allow: the regression loss on z-scored static
and dynamic targets (DEAM), the logistic sign loss on quadrant signs (4Q). Features come from
the mel cache; SpecAugment, mixup and the rest of the front end run on the training device.
Validation and the test report are ``offline.run_eval``'s; checkpoints and resuming are
``offline.run_folder``'s.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from emotrack.models.emotion import EmotionModel
from emotrack.models.errors import UserError
from emotrack.models.frontend import FrontEnd, spec_augment
from emotrack.offline import distributed
from emotrack.offline.data import Data
from emotrack.offline.dataset import DeviceWindows
from emotrack.offline.distributed import Dist
from emotrack.offline.log import log
from emotrack.offline.losses import LossConfig, make_loss, sign_loss
from emotrack.offline.run_eval import Evaluator, epoch_line, monitored_score, scores
from emotrack.offline.run_folder import FILES, gather_rng, restore, save_best, save_last

CYCLE_EPOCHS = 4  # cyclic: epochs from the low to the high learning rate
CYCLE_LOW = 0.1  # cyclic: low learning rate as a fraction of --lr
COSINE_FLOOR = 0.01  # cosine: final learning rate as a fraction of --lr
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 2
GPU_FEATURE_FRACTION = 0.4  # keep features on the GPU when they use at most this share of it
NAN_CHECK_STEPS = 25  # batches between loss checks: each check waits for the GPU to catch up


class TrainingStopped(Exception):
    """Training could not go on (a NaN loss); the last good checkpoints are kept."""


def sureness_of(label_smoothing: str) -> str | float | None:
    """``--label-smoothing``: "pquad" (each clip's own confidence), or a fixed epsilon 0..1
    (a target of 1 counts as 1 - epsilon / 2); "0" or "none" for none."""
    if label_smoothing in ("none", "0", "0.0"):
        return None
    if label_smoothing == "pquad":
        return "pquad"
    try:
        epsilon = float(label_smoothing)
    except ValueError:
        epsilon = -1.0
    if not 0.0 <= epsilon < 1.0:
        raise UserError(
            f"--label-smoothing {label_smoothing!r}: give a number 0 <= e < 1, or pquad "
            "(each 4Q clip's share of agreeing mood tags)"
        )
    return 1.0 - epsilon


def epoch_windows(clip_of_window: np.ndarray, per_clip: int | None, seed: int) -> np.ndarray:
    """Window indices of one epoch in random order: every window, or ``per_clip`` of each
    clip's windows drawn without replacement (all of a clip that has fewer)."""
    rng = np.random.default_rng(seed)
    if per_clip is None:
        return rng.permutation(len(clip_of_window))
    order = np.argsort(clip_of_window, kind="stable")
    bounds = np.flatnonzero(np.diff(clip_of_window[order])) + 1
    picked = [
        rng.choice(group, min(per_clip, len(group)), replace=False)
        for group in np.split(order, bounds)
    ]
    return rng.permutation(np.concatenate(picked))


class Trainer:
    """Model, optimiser and data of one run, and the epoch loop."""

    def __init__(
        self,
        config,
        data: Data,
        model: EmotionModel,
        state: dict | None,
        run_dir: Path,
        ctx: Dist,
        device: torch.device,
    ) -> None:
        """``state``: the run's last.pt to resume from, or None for a new run."""
        self.config, self.data, self.run_dir = config, data, run_dir
        self.ctx, self.device = ctx, device
        model.set_labels(data.scale)
        self.model = model.to(device)
        self.front_end = FrontEnd(self.model.audio).to(device)
        if device.type == "cuda":  # shapes are fixed: let cuDNN time its algorithms once
            torch.backends.cudnn.benchmark = True
        self.augment = config.spec_augment and self.model.audio.representation == "mel"
        self.augment_rng = torch.Generator().manual_seed(config.seed * 1000 + ctx.rank)
        train = data.parts["train"]
        present = train.kinds()
        wanted = ("static", "dynamic") if config.labels == "both" else (config.labels,)
        self.kinds = [k for k in wanted if k in present]
        self.signs = "sign" in present
        self.sureness = sureness_of(config.label_smoothing)
        self.monitor = self._monitor(config.monitor)
        self.loss_fn = make_loss(LossConfig(config.loss, config.var_weight, config.corr_weight))
        self.amp_dtype = amp_dtype(config, device)
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.amp_dtype == torch.float16 and device.type == "cuda"
        )
        self.resident = _fits_on(device, sum(p.features.nbytes for p in data.parts.values()))
        self.train_set = DeviceWindows(train, data.scale, device, self.resident)
        self.val_set = (
            DeviceWindows(data.parts["val"], data.scale, device, self.resident)
            if "val" in data.parts
            else None
        )
        _, self._clip_of_window = np.unique(train.keys, return_inverse=True)
        per_epoch = len(epoch_windows(self._clip_of_window, config.epoch_windows, 0))
        self.batch_size = min(config.batch_size, max(per_epoch // ctx.world, 1))
        self.steps = max(per_epoch // ctx.world // self.batch_size, 1)  # last batch dropped
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=config.lr,
            weight_decay=config.weight_decay,
            fused=device.type == "cuda",  # one kernel for the whole update
        )
        self.scheduler = self._scheduler()
        self.network = (
            DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )
            if ctx.enabled
            else self.model
        )
        if config.compile:  # training steps only; evaluation runs the model as it is
            self.network = torch.compile(self.network)
        self.evaluator = Evaluator(
            self.model,
            self.front_end,
            data,
            self.kinds,
            self._loss,
            device,
            self.amp_dtype,
            config.batch_size,
        )
        self.epoch = 0  # epochs completed
        self.history: list[dict] = []
        self.best_score = -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        if state is not None:
            restore(self, state)

    # ------------------------------------------------------------------ setup

    def _monitor(self, asked: str) -> str:
        """What picks the best epoch: auto is macro-F1 for quadrant labels alone, R² for
        continuous labels alone and the validation loss when a run has both."""
        if asked == "auto":
            if self.signs and self.kinds:
                return "loss"
            return "f1" if self.signs else "r2"
        if asked == "f1" and not self.signs:
            raise UserError("--monitor f1 needs quadrant labels (--dataset 4q)")
        if asked == "r2" and not self.kinds:
            raise UserError("--monitor r2 needs continuous labels (--dataset deam)")
        return asked

    def _scheduler(self):
        config, optimizer = self.config, self.optimizer
        if config.scheduler == "cyclic":
            return torch.optim.lr_scheduler.CyclicLR(
                optimizer,
                base_lr=config.lr * CYCLE_LOW,
                max_lr=config.lr,
                step_size_up=CYCLE_EPOCHS * self.steps,
                mode="triangular2",
                cycle_momentum=False,  # AdamW has no momentum to cycle
            )
        if config.scheduler == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=config.epochs * self.steps, eta_min=config.lr * COSINE_FLOOR
            )
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE
        )

    # ------------------------------------------------------------------ loop

    def fit(self) -> None:
        config, ctx = self.config, self.ctx
        bar = tqdm(
            desc="epochs",
            unit="epoch",
            initial=self.epoch,
            total=config.epochs,
            file=sys.stderr,
            disable=None if ctx.main else True,
        )
        with bar:
            while self.epoch < config.epochs and self.bad_epochs < config.patience:
                started = time.monotonic()
                train_loss = self._train_epoch(self.epoch)
                windows = self.steps * self.batch_size * ctx.world
                rate = windows / (time.monotonic() - started)
                summary = distributed.broadcast(ctx, self._validate(train_loss, rate, started))
                if config.scheduler == "plateau" and summary.get("val_loss") is not None:
                    self.scheduler.step(summary["val_loss"])
                self._record(summary)
                rng = gather_rng(ctx, self.augment_rng)
                if ctx.main:
                    save_last(self, rng)
                    log(epoch_line(summary, config.epochs))
                bar.update()
        if ctx.main and self.bad_epochs >= config.patience:
            log(f"early stop: val {self.monitor} did not improve for {config.patience} epochs")

    def _train_epoch(self, epoch: int) -> float:
        self.network.train()
        order = epoch_windows(
            self._clip_of_window, self.config.epoch_windows, self.config.seed * 7919 + epoch
        )
        mine = torch.from_numpy(order[self.ctx.rank :: self.ctx.world].copy())
        batches = mine[: self.steps * self.batch_size].view(self.steps, self.batch_size)
        losses = torch.zeros(self.steps, device=self.device)
        bar = tqdm(
            batches,
            desc=f"epoch {epoch + 1}",
            unit="batch",
            leave=False,
            file=sys.stderr,
            disable=None if self.ctx.main else True,
        )
        for step, index in enumerate(bar):
            losses[step] = self._step(index).detach()
            if (step + 1) % NAN_CHECK_STEPS == 0 or step + 1 == self.steps:
                finite = torch.isfinite(losses[: step + 1])
                if not distributed.all_true(self.ctx, bool(finite.all()), self.device):
                    bad = (~finite).nonzero()  # empty when only another rank saw it
                    first = int(bad[0]) if len(bad) else step
                    raise TrainingStopped(self._nan_message(epoch, first))
        return float(distributed.mean(self.ctx, losses.mean()))

    def _step(self, index: torch.Tensor) -> torch.Tensor:
        features, targets = self.train_set.batch(index)
        if self.augment:
            features = spec_augment(features, self.augment_rng)
        if self.config.mixup > 0:
            features, targets = self._mixup(features, targets)
        inputs = self.front_end.from_features(features)
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=bool(self.amp_dtype)
        ):
            pred = self.network(inputs)
        loss = self._loss(pred.float(), targets)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.config.scheduler != "plateau":
            self.scheduler.step()
        return loss

    def _mixup(self, features: torch.Tensor, targets: dict) -> tuple[torch.Tensor, dict]:
        """Each window blended with another of the batch, features and targets alike (a target
        missing in either stays missing)."""
        alpha = self.config.mixup
        share = float(np.random.beta(alpha, alpha))
        other = torch.randperm(len(features), generator=self.augment_rng).to(features.device)
        mixed = {k: share * v + (1 - share) * v.index_select(0, other) for k, v in targets.items()}
        return share * features + (1 - share) * features.index_select(0, other), mixed

    def _loss(self, pred: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        total = sum(self.loss_fn(pred, targets[kind]) for kind in self.kinds)
        if self.signs:
            if self.sureness == "pquad":
                sureness = targets["confidence"]
            elif self.sureness is None:
                sureness = None
            else:
                sureness = torch.full_like(targets["confidence"], self.sureness)
            total = total + sign_loss(self.model.sign_logits(pred), targets["sign"], sureness)
        return total

    def _nan_message(self, epoch: int, step: int) -> str:
        kept = (
            f"{FILES['best']} and {FILES['last']} in {self.run_dir} hold the last good epoch "
            f"({self.epoch})"
            if self.epoch
            else "no checkpoint was written (it failed in the first epoch)"
        )
        return (
            f"epoch {epoch + 1}, batch {step + 1}: the loss is not finite; training stopped. "
            f"{kept}. Lower --lr (now {self.config.lr:g}) or check the data"
        )

    def _validate(self, train_loss: float, rate: float, started: float) -> dict | None:
        """Rank 0: val metrics, best checkpoint; returns the epoch's history entry. Without a
        validation part (a final model on all data) every epoch is the best so far."""
        if not self.ctx.main:
            return None
        epoch = self.epoch + 1
        summary = {"epoch": epoch, "train_loss": train_loss}
        if self.val_set is not None:
            metrics = self.evaluator.evaluate("val", self.val_set)
            val_scores = scores(metrics)
            summary |= {"val_loss": metrics["loss"], **val_scores}
            score = monitored_score(self.monitor, metrics, val_scores)
            if self.monitor == "r2":
                summary["val_r2_mean"] = score
            val = metrics["methods"]["model"]
        else:
            score, val = float(epoch), None
        improved = math.isfinite(score) and score > self.best_score
        summary |= {
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(time.monotonic() - started, 2),  # training and validation
            "train_windows_per_s": round(rate, 1),
            "best": improved,
            "score": score,
        }
        if improved:
            save_best(self.model, self.run_dir, epoch, val, self.config.to_dict())
        return summary

    def _record(self, summary: dict) -> None:
        """Bookkeeping every rank does identically from rank 0's summary."""
        self.epoch = summary["epoch"]
        if summary["best"]:
            self.best_score, self.best_epoch, self.bad_epochs = summary["score"], self.epoch, 0
        else:
            self.bad_epochs += 1
        self.history.append({k: v for k, v in summary.items() if k != "score"})


def _fits_on(device: torch.device, nbytes: int) -> bool:
    """Whether features of ``nbytes`` may live on ``device`` for the whole run."""
    if device.type != "cuda":
        return True
    return nbytes <= torch.cuda.get_device_properties(device).total_memory * GPU_FEATURE_FRACTION


def amp_dtype(config, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on GPUs that have it (fp16 with loss scaling on older ones); none on CPU."""
    if not config.amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
