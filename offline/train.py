"""Train an emotion model on DEAM (or a generated stand-in): the loop, checkpoints, resume.

``train(TrainConfig(...)) -> run folder``. Features come from the mel cache; SpecAugment and
the rest of the front end run on the training device. One process, or N under ``torchrun``
(DDP; rank 0 alone writes files). The run folder holds the config, the audio parameters,
the label scale, the split, the per-epoch history, ``best.pt`` and ``last.pt`` (everything
needed to resume after a crash, losing only the unfinished epoch), and at the end the test
metrics, report and plots.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from emotrack.models.atomic import write_json
from emotrack.models.audio import TRAIN_WINDOWS_PER_CLIP
from emotrack.models.backbones import BACKBONE_NAMES, audio_config_for
from emotrack.models.emotion import (
    DIMENSIONS,
    EmotionModel,
    LabelScale,
    ModelConfig,
    atomic_save,
    build_model,
    checkpoint_dict,
    read_checkpoint,
    unit_to_nine,
)
from emotrack.models.errors import UserError
from emotrack.models.frontend import FrontEnd, spec_augment
from emotrack.offline import distributed
from emotrack.offline.dataset import DeviceWindows, WindowSet, build_windows, shuffled_labels
from emotrack.offline.distributed import Dist
from emotrack.offline.losses import LOSS_NAMES, LossConfig, make_loss
from emotrack.offline.splits import Split, label_scale, music2emo_split, stratified_split

LABEL_MODES = ("static", "dynamic", "both")
SPLITS = ("random", "music2emo")
SCHEDULERS = ("cyclic", "plateau", "cosine")
MONITORS = ("r2", "loss")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_LR = {"cnn": 1e-3}  # other backbones (pretrained, larger): FINETUNE_LR
FINETUNE_LR = 1e-4
CYCLE_EPOCHS = 4  # cyclic: epochs from the low to the high learning rate
CYCLE_LOW = 0.1  # cyclic: low learning rate as a fraction of --lr
COSINE_FLOOR = 0.01  # cosine: final learning rate as a fraction of --lr
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 2
GPU_FEATURE_FRACTION = 0.4  # keep features on the GPU when they use at most this share of it
MIN_SPLIT_SONGS = 1
DEFAULT_CACHE = Path.home() / ".cache" / "emotrack"
# Config fields a resumed run may change: they do not alter what is trained.
RESUMABLE = ("epochs", "workers", "resume", "out", "compile")
NAN_CHECK_STEPS = 25  # batches between loss checks: each check waits for the GPU to catch up
PATH_OPTIONS = ("data_dir", "cache_dir", "weights")
FILES = {
    "config": "config.json",
    "audio": "audio.json",
    "labels": "labels.json",
    "split": "split.json",
    "history": "history.json",
    "best": "best.pt",
    "last": "last.pt",
}


class TrainingStopped(Exception):
    """Training could not go on (a NaN loss); the last good checkpoints are kept."""


@dataclass
class TrainConfig:
    """Every option of a training run (the CLI's flags, one to one)."""

    # data: exactly one of data_dir, download, synthetic
    data_dir: str | None = None
    download: bool = False
    synthetic: int | None = None
    synthetic_seconds: float = 45.0
    cache_dir: str | None = None
    # model
    backbone: str = "mamba_vision_S"
    pretrained: bool = False
    weights: str | None = None
    # windows and targets
    windows: int = TRAIN_WINDOWS_PER_CLIP
    window_hop: float | None = None
    labels: str = "static"
    split: str = "random"
    shuffle_labels: bool = False
    spec_augment: bool = True
    # loss
    loss: str = "mse"
    var_weight: float = 0.1
    corr_weight: float = 0.1
    # optimisation
    epochs: int = 30
    batch_size: int = 32
    lr: float | None = None  # None: DEFAULT_LR for the backbone
    weight_decay: float = 1e-2
    scheduler: str = "cyclic"
    patience: int = 8
    monitor: str = "r2"
    amp: bool = True
    compile: bool = False
    device: str = "auto"
    seed: int = 0
    workers: int | None = None
    # run folder
    out: str | None = None
    resume: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def resolved(self) -> TrainConfig:
        """Defaults that depend on other options filled in; input paths made absolute (a run
        resumed from another folder finds its data)."""
        lr = self.lr if self.lr is not None else DEFAULT_LR.get(self.backbone, FINETUNE_LR)
        paths = {
            name: str(Path(value).expanduser().absolute())
            for name in PATH_OPTIONS
            if (value := getattr(self, name)) is not None
        }
        return replace(self, lr=lr, **paths)

    def check(self) -> None:
        """UserError naming the first bad option."""
        sources = sum([self.data_dir is not None, self.download, self.synthetic is not None])
        if sources != 1:
            raise UserError(
                "give exactly one data source: --data-dir DIR (an unpacked DEAM copy), "
                "--download (from Kaggle) or --synthetic N (a generated stand-in of N songs)"
            )
        choices = {
            "backbone": BACKBONE_NAMES,
            "labels": LABEL_MODES,
            "split": SPLITS,
            "loss": LOSS_NAMES,
            "scheduler": SCHEDULERS,
            "monitor": MONITORS,
            "device": DEVICES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UserError(
                    f"--{name.replace('_', '-')} {getattr(self, name)!r} is not one of "
                    f"{', '.join(allowed)}"
                )
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "patience": self.patience}
        positive |= {"windows": self.windows, "synthetic": self.synthetic, "workers": self.workers}
        for name, value in positive.items():
            if value is not None and value < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
        for name in ("lr", "window_hop"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f"--{name.replace('_', '-')} must be > 0, not {value}")
        for name in ("weight_decay", "var_weight", "corr_weight"):
            if not getattr(self, name) >= 0:
                raise UserError(f"--{name.replace('_', '-')} must be >= 0")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA GPU is visible here; use --device cpu")


# ---------------------------------------------------------------------------- entry point


def train(config: TrainConfig) -> Path:
    """Train (or resume) a run; returns the run folder. UserError for bad input,
    TrainingStopped for a NaN loss (checkpoints of the last good epoch kept)."""
    ctx = distributed.from_environment()
    config = config.resolved()
    config.check()
    device = distributed.device_for(config.device, ctx)
    distributed.start(ctx, device)
    try:
        run_dir = _run_folder(config, ctx)
        if config.resume:
            config = _resumed_config(config, run_dir)
        _seed_everything(config.seed + ctx.rank)
        last = run_dir / FILES["last"]
        state = read_checkpoint(last) if config.resume and last.is_file() else None
        model = build_model(  # before the data: weights that do not fit fail fast
            ModelConfig(backbone=config.backbone),
            pretrained=config.pretrained and state is None,
            weights=config.weights if state is None else None,
        )
        data = _prepare_data(config, run_dir, ctx)
        trainer = Trainer(config, data, model, state, run_dir, ctx, device)
        if ctx.main:
            log(
                f"training {config.backbone} on {ctx.world} process(es), {device}"
                + (f", {trainer.amp_dtype} autocast" if trainer.amp_dtype else "")
                + (", torch.compile (the first batches wait for it)" if config.compile else "")
                + f" -> {run_dir}"
            )
        trainer.fit()
        if ctx.main:
            trainer.finish()
        distributed.barrier(ctx)
    finally:
        distributed.stop(ctx)
    return run_dir


def log(message: str) -> None:
    """One line on stderr that does not break a progress bar."""
    tqdm.write(message, file=sys.stderr)


# ---------------------------------------------------------------------------- run folder


def saved_config(run_dir: str | Path) -> TrainConfig:
    """The options a run folder was trained with; UserError when it is not a run folder."""
    path = Path(run_dir).expanduser() / FILES["config"]
    if not path.is_file():
        raise UserError(
            f"--resume {path.parent}: not a run folder (no {FILES['config']}); pass the folder "
            "an earlier emotrack-train run wrote"
        )
    try:
        return TrainConfig.from_dict(json.loads(path.read_text())).resolved()
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path}: unreadable ({exc}); start a new run with --out") from None


def _run_folder(config: TrainConfig, ctx: Dist) -> Path:
    """The run folder. A new run's config.json is written first (rank 0), so that a run killed
    while its data is prepared can be resumed; a folder whose run trained is not reused."""
    if config.resume:
        return Path(config.resume).expanduser()
    problem = None
    if ctx.main:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path(config.out or f"runs/{stamp}-{config.backbone}").expanduser()
        if (run_dir / FILES["last"]).exists():
            problem = (
                f"--out {run_dir}: already holds a trained run; continue it with --resume "
                f"{run_dir}, or choose another --out"
            )
        else:
            write_json(run_dir / FILES["config"], config.to_dict())
    run_dir, problem = distributed.broadcast(ctx, (run_dir if ctx.main else None, problem))
    if problem:
        raise UserError(problem)
    return run_dir


def _resumed_config(config: TrainConfig, run_dir: Path) -> TrainConfig:
    """The saved config with this call's resumable fields; UserError when anything else differs."""
    saved = saved_config(run_dir)
    mine, theirs = config.to_dict(), saved.to_dict()
    changed = [
        f"--{k.replace('_', '-')} {mine[k]!r} (the run used {theirs[k]!r})"
        for k in mine
        if k not in RESUMABLE and mine[k] != theirs[k]
    ]
    if changed:
        raise UserError(
            f"--resume {run_dir}: the options differ from the run's: {'; '.join(changed)}. "
            "Only --epochs may change when resuming; drop the other options, or start a new run "
            "with --out"
        )
    return replace(saved, **{k: mine[k] for k in RESUMABLE})


# ---------------------------------------------------------------------------- data


@dataclass
class Data:
    """Songs, split, label scale and the in-memory windows of each part."""

    songs: dict  # song id -> Song (true labels)
    split: Split
    scale: LabelScale
    parts: dict[str, WindowSet]  # train, val, test
    load: Callable[[int], tuple[np.ndarray, np.ndarray]]  # song id -> cached features, starts


def _prepare_data(config: TrainConfig, run_dir: Path, ctx: Dist) -> Data:
    """Find or make the data, fill the feature cache (rank 0 first), split, scale, window."""
    from emotrack.offline.cache import Windowing, build_cache
    from emotrack.offline.deam import load_deam

    root = _data_root(config, run_dir, ctx)
    songs = load_deam(root, progress=ctx.main).labelled(config.labels)
    if not songs:
        raise UserError(
            f"{root}: no song has {config.labels} labels and readable audio (run `emotrack "
            f"audit --data-dir {root}` to see why); check the data or choose other --labels"
        )
    audio = audio_config_for(config.backbone)
    windowing = Windowing(
        count=None if config.window_hop else config.windows, hop_seconds=config.window_hop
    )
    cache_root = _cache_root(config, run_dir)
    cache = _rank0_first(
        ctx,
        lambda: build_cache(songs, audio, windowing, cache_root, config.workers, ctx.main),
    )
    if ctx.main:
        for problem in cache.problems:
            log(f"left out: {problem.message}")
    by_id = {song.song_id: song for song in songs if song.song_id in cache}
    split = _split(config, run_dir, list(by_id.values()))
    scale = label_scale(by_id, split.train + split.val, config.labels)

    # the sanity check permutes every label that training and model selection see
    seen = [by_id[i] for i in split.train + split.val]
    labels_from = shuffled_labels(seen, config.seed) if config.shuffle_labels else None
    parts = {
        part: build_windows(
            [by_id[i] for i in getattr(split, part)],
            cache.load,
            audio.window_seconds,
            None if part == "test" else labels_from,
        )
        for part in ("train", "val", "test")
    }
    if ctx.main:
        for name, content in (("audio", audio), ("labels", scale), ("split", split)):
            write_json(run_dir / FILES[name], content.to_dict())
        log(
            f"data: {root} | {len(split.train)}/{len(split.val)}/{len(split.test)} songs, "
            f"{len(parts['train'])}/{len(parts['val'])}/{len(parts['test'])} windows "
            f"(train/val/test) | {config.labels} labels"
            + (" SHUFFLED (sanity check)" if config.shuffle_labels else "")
        )
    return Data(by_id, split, scale, parts, cache.load)


def _split(config: TrainConfig, run_dir: Path, songs: list) -> Split:
    """A resumed run's saved split, else a new one; UserError when a part is empty."""
    saved = run_dir / FILES["split"]
    if config.resume and saved.is_file():
        split = Split.from_dict(json.loads(saved.read_text()))
    elif config.split == "music2emo":
        split = music2emo_split(songs)
    else:
        split = stratified_split(songs, seed=config.seed)
    sizes = {part: len(getattr(split, part)) for part in ("train", "val", "test")}
    empty = [part for part, size in sizes.items() if size < MIN_SPLIT_SONGS]
    if empty:
        hint = (
            "--split music2emo needs DEAM's real song ids; use --split random"
            if config.split == "music2emo"
            else "use more songs (at least 10; --synthetic 40 for a generated set)"
        )
        raise UserError(
            f"the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty: "
            f"{len(songs)} usable songs gave "
            f"{sizes['train']}/{sizes['val']}/{sizes['test']} train/val/test; {hint}"
        )
    return split


def _rank0_first(ctx: Dist, make: Callable[[], object]) -> object:
    """``make()`` on rank 0, then on the other ranks, which find its work done (a download,
    generated data, the feature cache)."""
    if ctx.main:
        result = make()
    distributed.barrier(ctx)
    if not ctx.main:
        result = make()
    return result


def _data_root(config: TrainConfig, run_dir: Path, ctx: Dist) -> Path:
    """The DEAM folder: --data-dir, a --download, or a --synthetic set (generated once)."""
    from emotrack.offline.deam import find_deam_root

    if config.synthetic is None:
        data_dir = Path(config.data_dir) if config.data_dir else None
        return _rank0_first(ctx, lambda: find_deam_root(data_dir, config.download))
    from emotrack.offline.synthetic import generate_deam

    name = f"synthetic-{config.synthetic}x{config.synthetic_seconds:g}s"
    root = Path(config.cache_dir) / name if config.cache_dir else run_dir / "data"
    return _rank0_first(  # generate_deam returns a complete set of these parameters as is
        ctx,
        lambda: generate_deam(
            root,
            n_songs=config.synthetic,
            clip_seconds=config.synthetic_seconds,
            progress=ctx.main,
            workers=config.workers,
        ),
    )


def _cache_root(config: TrainConfig, run_dir: Path) -> Path:
    """Features of generated data without --cache-dir stay in the run folder; the rest go to
    --cache-dir (default ~/.cache/emotrack)."""
    if config.synthetic is not None and not config.cache_dir:
        return run_dir / "cache"
    return Path(config.cache_dir).expanduser() if config.cache_dir else DEFAULT_CACHE


# ---------------------------------------------------------------------------- training


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state(augment: torch.Generator) -> dict:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "augment": augment.get_state(),
    }


def _set_rng_state(state: dict, augment: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    augment.set_state(state["augment"])


class Trainer:
    """Model, optimiser and data of one run, and the epoch loop."""

    def __init__(
        self,
        config: TrainConfig,
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
        self.kinds = ("static", "dynamic") if config.labels == "both" else (config.labels,)
        self.loss_fn = make_loss(LossConfig(config.loss, config.var_weight, config.corr_weight))
        self.amp_dtype = _amp_dtype(config, device)
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.amp_dtype == torch.float16 and device.type == "cuda"
        )
        self.resident = _fits_on(device, sum(p.features.nbytes for p in data.parts.values()))
        self.train_set = DeviceWindows(data.parts["train"], data.scale, device, self.resident)
        self.val_set = DeviceWindows(data.parts["val"], data.scale, device, self.resident)
        self.sampler = DistributedSampler(
            range(len(self.train_set)),
            num_replicas=ctx.world,
            rank=ctx.rank,
            shuffle=True,
            seed=config.seed,
        )
        self.batch_size = min(config.batch_size, len(self.sampler))
        self.steps = len(self.sampler) // self.batch_size  # an incomplete last batch is dropped
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
        self.epoch = 0  # epochs completed
        self.history: list[dict] = []
        self.best_score = -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        if state is not None:
            self._restore(state)

    # ------------------------------------------------------------------ setup

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

    def _restore(self, state: dict) -> None:
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.config.scheduler == "cosine":  # --epochs may have grown
            self.scheduler.T_max = self.config.epochs * self.steps
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = state["epoch"]
        self.history = state["history"]
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        self.bad_epochs = state["bad_epochs"]
        rng = state["rng"]
        if len(rng) == self.ctx.world:
            _set_rng_state(rng[self.ctx.rank], self.augment_rng)
        else:
            log(f"resuming with {self.ctx.world} processes (was {len(rng)}): new random streams")
            _seed_everything(self.config.seed + 7919 * self.epoch + self.ctx.rank)
        if self.ctx.main:
            log(f"resuming {self.run_dir} after epoch {self.epoch}")

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
                if config.scheduler == "plateau":
                    self.scheduler.step(summary["val_loss"])
                self._record(summary)
                rng = self._gather_rng()
                if ctx.main:
                    self._save_last(rng)
                    log(self._epoch_line(summary))
                bar.update()
        if ctx.main and self.bad_epochs >= config.patience:
            log(f"early stop: val {config.monitor} did not improve for {config.patience} epochs")

    def _train_epoch(self, epoch: int) -> float:
        self.network.train()
        self.sampler.set_epoch(epoch)
        order = torch.tensor(list(self.sampler), dtype=torch.long)
        batches = order[: self.steps * self.batch_size].view(self.steps, self.batch_size)
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

    def _loss(self, pred: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.loss_fn(pred, targets[kind]) for kind in self.kinds)

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

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def predict(self, windows: DeviceWindows) -> torch.Tensor:
        """Window predictions (N, 2) as z-scores on the CPU; eval mode, no augmentation."""
        self.model.eval()
        size = 2 * self.config.batch_size
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
        """Loss and song/frame metrics of one part (report.evaluate_predictions' dict)."""
        from emotrack.offline.report import evaluate_predictions

        z = self.predict(windows)
        ws = self.data.parts[part]
        metrics = evaluate_predictions(
            ws.song_ids,
            self.model.to_deam(z.to(self.device)).cpu().numpy(),
            unit_to_nine(ws.targets["static"]),
            ws.targets["dynamic"] if "dynamic" in self.kinds else None,
            baselines=baselines,
            split=part,
        )
        metrics["loss"] = float(self._loss(z, {k: v.cpu() for k, v in windows.targets.items()}))
        return metrics

    def _scores(self, metrics: dict) -> dict[str, float]:
        """Per-dimension R² and CCC the run is judged by: song level for static/both labels,
        per frame for dynamic labels (a dimension without labels is NaN)."""
        model = metrics["methods"]["model"]
        level = (model["frame"] if self.config.labels == "dynamic" else model["song"]) or {}
        return {
            f"val_{name}_{dim}": (level.get(dim) or {}).get(name, math.nan)
            for name in ("r2", "ccc")
            for dim in DIMENSIONS
        }

    def _validate(self, train_loss: float, rate: float, started: float) -> dict | None:
        """Rank 0: val metrics, best checkpoint; returns the epoch's history entry."""
        if not self.ctx.main:
            return None
        metrics = self.evaluate("val", self.val_set)
        scores = self._scores(metrics)
        r2_mean = float(np.mean([scores[f"val_r2_{dim}"] for dim in DIMENSIONS]))
        score = -metrics["loss"] if self.config.monitor == "loss" else r2_mean
        improved = math.isfinite(score) and score > self.best_score
        epoch = self.epoch + 1
        summary = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": metrics["loss"],
            **scores,
            "val_r2_mean": r2_mean,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(time.monotonic() - started, 2),  # training and validation
            "train_windows_per_s": round(rate, 1),
            "best": improved,
            "score": score,
        }
        if improved:
            atomic_save(
                checkpoint_dict(
                    self.model,
                    epoch=epoch,
                    val=metrics["methods"]["model"],
                    train_config=self.config.to_dict(),
                ),
                self.run_dir / FILES["best"],
            )
        return summary

    def _record(self, summary: dict) -> None:
        """Bookkeeping every rank does identically from rank 0's summary."""
        self.epoch = summary["epoch"]
        if summary["best"]:
            self.best_score, self.best_epoch, self.bad_epochs = summary["score"], self.epoch, 0
        else:
            self.bad_epochs += 1
        self.history.append({k: v for k, v in summary.items() if k != "score"})

    def _gather_rng(self) -> list[dict]:
        state = _rng_state(self.augment_rng)
        if not self.ctx.enabled:
            return [state]
        states: list = [None] * self.ctx.world
        torch.distributed.all_gather_object(states, state)
        return states

    def _save_last(self, rng: list[dict]) -> None:
        atomic_save(
            checkpoint_dict(
                self.model,
                epoch=self.epoch,
                optimizer=self.optimizer.state_dict(),
                scheduler=self.scheduler.state_dict(),
                scaler=self.scaler.state_dict(),
                rng=rng,
                history=self.history,
                best_score=self.best_score,
                best_epoch=self.best_epoch,
                bad_epochs=self.bad_epochs,
                train_config=self.config.to_dict(),
            ),
            self.run_dir / FILES["last"],
        )
        write_json(self.run_dir / FILES["history"], self.history)

    def _epoch_line(self, s: dict) -> str:
        return (
            f"epoch {s['epoch']}/{self.config.epochs}  train_loss {s['train_loss']:.4f}  "
            f"val_loss {s['val_loss']:.4f}  val R² valence {s['val_r2_valence']:.3f} "
            f"arousal {s['val_r2_arousal']:.3f}  lr {s['lr']:.2e}  {s['seconds']:.1f} s "
            f"({s['train_windows_per_s']:,.0f} windows/s)" + ("  *best" if s["best"] else "")
        )

    # ------------------------------------------------------------------ the end

    def finish(self) -> None:
        """Rank 0: the best model on the test split -> metrics.json, report.md, plots."""
        from emotrack.offline.baselines import BaselineInputs
        from emotrack.offline.report import write_report

        best = self.run_dir / FILES["best"]
        if best.is_file():
            self.model.load_state_dict(read_checkpoint(best)["state_dict"])
        split, songs = self.data.split, self.data.songs
        static = {i: (s.valence_mean, s.arousal_mean) for i, s in songs.items() if s.has_static}
        fit_ids = {
            part: [i for i in getattr(split, part) if i in static] for part in ("train", "val")
        }
        baselines = (
            BaselineInputs.from_cache(
                lambda i: self.data.load(i)[0], static, fit_ids["train"], fit_ids["val"], split.test
            )
            if len(fit_ids["train"]) >= 2 and fit_ids["val"]
            else None
        )
        test_set = DeviceWindows(
            self.data.parts["test"], self.data.scale, self.device, self.resident
        )
        metrics = self.evaluate("test", test_set, baselines)
        extra = {
            "run": str(self.run_dir),
            "backbone": self.config.backbone,
            "labels": self.config.labels,
            "shuffled_labels": self.config.shuffle_labels,
            "best_epoch": self.best_epoch,
            "epochs_trained": self.epoch,
            "val_best": next((h for h in self.history if h["epoch"] == self.best_epoch), None),
        }
        write_json(self.run_dir / FILES["history"], self.history)  # also after a late kill
        report = write_report(
            self.run_dir, metrics, self.history, extra, title=f"emotrack run {self.run_dir.name}"
        )
        model = metrics["methods"]["model"]
        levels = [("song level", model["song"]), ("per frame", model["frame"] or {})]
        scores = "; ".join(
            f"{level} R² "
            + " ".join(
                f"{dim} {(values.get(dim) or {}).get('r2', math.nan):.3f}" for dim in DIMENSIONS
            )
            for level, values in levels
            if values
        )
        log(f"test, best epoch {self.best_epoch}: {scores} | {report}")


def _fits_on(device: torch.device, nbytes: int) -> bool:
    """Whether features of ``nbytes`` may live on ``device`` for the whole run."""
    if device.type != "cuda":
        return True
    return nbytes <= torch.cuda.get_device_properties(device).total_memory * GPU_FEATURE_FRACTION


def _amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on GPUs that have it (fp16 with loss scaling on older ones); none on CPU."""
    if not config.amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
