"""Train an emotion model: the options of a run, its folder, one run or a cross-validation.

``train(TrainConfig(...)) -> run folder``. One run trains on a split's train part, picks its
best epoch on the val part and reports on the test part (``offline.trainer``). With ``folds``
it is a cross-validation (``offline.cv``): one such run per fold on splits that never put an
artist on two sides, their scores with mean and spread, and a final model on every clip. One
process, or N under ``torchrun`` (DDP; rank 0 alone writes files).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path

import torch

from emotrack.models.atomic import write_json
from emotrack.models.audio import TRAIN_WINDOWS_PER_CLIP
from emotrack.models.backbones import BACKBONE_NAMES, audio_config_for
from emotrack.models.emotion import ModelConfig, build_model, read_checkpoint
from emotrack.models.errors import UserError
from emotrack.offline import distributed
from emotrack.offline.cache import Windowing
from emotrack.offline.clips import DATASETS
from emotrack.offline.data import Pool, choose_split, gather, prepare
from emotrack.offline.distributed import Dist
from emotrack.offline.log import log
from emotrack.offline.losses import LOSS_NAMES
from emotrack.offline.run_eval import test_best
from emotrack.offline.run_folder import FILES, seed_everything
from emotrack.offline.splits import Split
from emotrack.offline.trainer import Trainer, TrainingStopped, sureness_of

__all__ = ["TrainConfig", "TrainingStopped", "train", "saved_config"]

LABEL_MODES = ("static", "dynamic", "both")
SPLITS = ("random", "music2emo")
SCHEDULERS = ("cyclic", "plateau", "cosine")
MONITORS = ("auto", "r2", "f1", "loss")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_LR = {"cnn": 1e-3}  # other backbones (pretrained, larger): FINETUNE_LR
FINETUNE_LR = 1e-4
# Config fields a resumed run may change: they do not alter what is trained.
RESUMABLE = ("epochs", "workers", "resume", "out", "compile")
PATH_OPTIONS = ("cache_dir", "weights")


@dataclass
class TrainConfig:
    """Every option of a training run (the CLI's flags, one to one)."""

    # data: the datasets, and exactly one of data_dir, download, synthetic
    dataset: list[str] = field(default_factory=lambda: ["deam"])
    data_dir: list[str] | None = None
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
    epoch_windows: int | None = None  # windows drawn per clip each epoch (None: all)
    labels: str = "static"
    label_smoothing: str = "0"
    split: str = "random"
    folds: int | None = None
    final: bool = True
    shuffle_labels: bool = False
    spec_augment: bool = True
    mixup: float = 0.0  # Beta(alpha, alpha) mixing weight; 0 is off
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
    monitor: str = "auto"
    amp: bool = True
    compile: bool = False
    device: str = "auto"
    seed: int = 0
    split_seed: int | None = None  # the split's and folds' seed; None: seed
    workers: int | None = None
    # run folder
    out: str | None = None
    resume: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def splitting_seed(self) -> int:
        """What draws the split (or the folds): ``split_seed``, else ``seed``."""
        return self.seed if self.split_seed is None else self.split_seed

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("data_dir"), str):  # written before several folders were
            values["data_dir"] = [values["data_dir"]]
        return cls(**values)

    def resolved(self) -> TrainConfig:
        """Defaults that depend on other options filled in; input paths made absolute (a run
        resumed from another folder finds its data)."""
        lr = self.lr if self.lr is not None else DEFAULT_LR.get(self.backbone, FINETUNE_LR)
        paths = {
            name: str(Path(value).expanduser().absolute())
            for name in PATH_OPTIONS
            if (value := getattr(self, name)) is not None
        }
        if self.data_dir is not None:
            paths["data_dir"] = [str(Path(d).expanduser().absolute()) for d in self.data_dir]
        datasets = list(dict.fromkeys(self.dataset))  # each once, in the order given
        return replace(self, lr=lr, dataset=datasets, **paths)

    def check(self) -> None:
        """UserError naming the first bad option."""
        sources = sum([self.data_dir is not None, self.download, self.synthetic is not None])
        if sources != 1:
            raise UserError(
                "give exactly one data source: --data-dir DIR (an unpacked DEAM or 4Q copy), "
                "--download (DEAM from Kaggle) or --synthetic N (a generated stand-in of N clips)"
            )
        unknown = [d for d in self.dataset if d not in DATASETS]
        if unknown or not self.dataset:
            raise UserError(
                f"--dataset {' '.join(self.dataset)}: choose from {', '.join(DATASETS)}"
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
        positive |= {"epoch_windows": self.epoch_windows}
        for name, value in positive.items():
            if value is not None and value < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
        for name in ("lr", "window_hop"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f"--{name.replace('_', '-')} must be > 0, not {value}")
        for name in ("weight_decay", "var_weight", "corr_weight", "mixup"):
            if not getattr(self, name) >= 0:
                raise UserError(f"--{name.replace('_', '-')} must be >= 0")
        sureness_of(self.label_smoothing)
        if self.folds is not None and self.folds < 3:
            raise UserError(f"--folds {self.folds}: cross-validation needs at least 3 folds")
        if self.folds is not None and self.split != "random":
            raise UserError("--folds makes its own splits; drop --split")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA GPU is visible here; use --device cpu")


# ---------------------------------------------------------------------------- entry point


def train(config: TrainConfig) -> Path:
    """Train (or resume) a run or a cross-validation; returns the run folder. UserError for
    bad input, TrainingStopped for a NaN loss (checkpoints of the last good epoch kept)."""
    ctx = distributed.from_environment()
    config = config.resolved()
    config.check()
    device = distributed.device_for(config.device, ctx)
    distributed.start(ctx, device)
    try:
        run_dir = _run_folder(config, ctx)
        if config.resume:
            config = _resumed_config(config, run_dir)
        build_model(ModelConfig(backbone=config.backbone), weights=config.weights)  # fail fast
        audio = audio_config_for(config.backbone)
        windowing = Windowing(
            count=None if config.window_hop else config.windows, hop_seconds=config.window_hop
        )
        pool = gather(config, run_dir, ctx, audio, windowing)
        if config.folds:
            from emotrack.offline.cv import cross_validate

            cross_validate(config, pool, run_dir, ctx, device)
        else:
            split = choose_split(
                config, run_dir / FILES["split"], list(pool.clips.values()), bool(config.resume)
            )
            run_split(config, pool, split, run_dir, ctx, device)
    finally:
        distributed.stop(ctx)
    return run_dir


def run_split(
    config: TrainConfig,
    pool: Pool,
    split: Split,
    run_dir: Path,
    ctx: Dist,
    device: torch.device,
) -> tuple[dict | None, int]:
    """Train one model on ``split`` into ``run_dir`` (resuming from its last.pt when there is
    one); rank 0 returns the test metrics (None without a test part) and the best epoch."""
    seed_everything(config.seed + ctx.rank)
    last = run_dir / FILES["last"]
    state = read_checkpoint(last) if last.is_file() else None
    model = build_model(  # before the data: weights that do not fit fail fast
        ModelConfig(backbone=config.backbone),
        pretrained=config.pretrained and state is None,
        weights=config.weights if state is None else None,
    )
    data = prepare(config, pool, split, run_dir, ctx, FILES)
    trainer = Trainer(config, data, model, state, run_dir, ctx, device)
    if ctx.main:
        log(
            f"training {config.backbone} on {ctx.world} process(es), {device}"
            + (f", {trainer.amp_dtype} autocast" if trainer.amp_dtype else "")
            + (", torch.compile (the first batches wait for it)" if config.compile else "")
            + (
                f", best epoch by val {trainer.monitor}"
                if trainer.val_set is not None
                else f", no validation part: {config.epochs} epochs"
            )
            + f" -> {run_dir}"
        )
    trainer.fit()
    metrics = test_best(trainer) if ctx.main else None
    distributed.barrier(ctx)
    return metrics, trainer.best_epoch


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
        kind = f"-{'-'.join(config.dataset)}" + (f"-cv{config.folds}" if config.folds else "")
        run_dir = Path(config.out or f"runs/{stamp}-{config.backbone}{kind}").expanduser()
        if (run_dir / FILES["last"]).exists() or (run_dir / "folds.json").exists():
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
