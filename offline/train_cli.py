"""`emotrack-train`: train an emotion model on DEAM, 4Q or both (or generated stand-ins).

Exit codes: 0 done, 1 training stopped (a NaN loss; the last good checkpoints are kept),
2 bad input, 130 interrupted (nothing half-written). Runs the same under
``torchrun --nproc-per-node N emotrack-train ...`` (DDP). The run folder is printed on stdout.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import fields, replace
from pathlib import Path

from emotrack.models.audio import WINDOW_SECONDS
from emotrack.models.backbones import BACKBONE_NAMES
from emotrack.offline.clips import DATASETS
from emotrack.offline.distributed import from_environment
from emotrack.offline.losses import LOSS_NAMES
from emotrack.offline.train import (
    DEFAULT_LR,
    DEVICES,
    FINETUNE_LR,
    LABEL_MODES,
    MONITORS,
    SCHEDULERS,
    SPLITS,
    TrainConfig,
    TrainingStopped,
    saved_config,
    train,
)
from emotrack.shell import EXIT_FAILED, EXIT_OK, guarded

PROG = "emotrack-train"
_D = TrainConfig()
DESCRIPTION = (
    "Train a valence/arousal model on DEAM (continuous labels), 4Q (one Russell quadrant per "
    "clip) or both at once. Features come from a mel cache built on first use; the run folder "
    "gets config.json, audio.json, labels.json, split.json, history.json, best.pt, last.pt, "
    "then metrics.json, report.md and plots/. With --folds K it holds one such run per fold, "
    "cv.json, the CV report and a final/ model. The run folder is printed on stdout."
)
EPILOG = (
    "Multi-GPU: torchrun --nproc-per-node N $(which emotrack-train) OPTIONS. Exit codes: 0 "
    "done, 1 stopped on a NaN loss, 2 bad input, 130 interrupted."
)


def build_parser() -> argparse.ArgumentParser:
    """`emotrack-train`'s own parser (the same options as `emotrack train`)."""
    parser = argparse.ArgumentParser(prog=PROG)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    for add in (
        _data_options, _model_options, _target_options, _loss_options, _optim_options,
        _run_options,
    ):  # fmt: skip
        add(parser)


def _data_options(parser: argparse.ArgumentParser) -> None:
    """Which dataset, from where."""
    data = parser.add_argument_group("data (exactly one of --data-dir, --download, --synthetic)")
    data.add_argument(
        "--dataset",
        nargs="+",
        choices=DATASETS,
        default=_D.dataset,
        metavar="NAME",
        help="deam (static 1..9 means and 2 Hz curves) and/or 4q (Panda et al. 2018: one "
        "quadrant per clip); several train one model, each window with the losses its labels "
        "allow [default: deam]",
    )
    data.add_argument(
        "--data-dir",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="unpacked dataset folder(s), found by walking whatever the nesting: one folder "
        "holding every --dataset, or one per dataset in the order of --dataset",
    )
    data.add_argument(
        "--download",
        action="store_true",
        help="get DEAM from Kaggle through kagglehub (network and Kaggle credentials; cached in "
        "KAGGLEHUB_CACHE, default ~/.cache/kagglehub). 4Q: download it from mir.dei.uc.pt",
    )
    data.add_argument(
        "--synthetic",
        type=int,
        metavar="N",
        help="generate a set shaped like each --dataset, N clips each, with known emotion cues "
        "(into the run folder, or --cache-dir when given, where it is reused)",
    )
    data.add_argument(
        "--synthetic-seconds",
        type=float,
        default=_D.synthetic_seconds,
        metavar="S",
        help="length of each generated clip [default: %(default)s, as DEAM's excerpts; 4Q's "
        "are 30]",
    )
    data.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where mel features (and generated sets) are cached [default: ~/.cache/emotrack; "
        "for --synthetic without it, the run folder]",
    )


def _model_options(parser: argparse.ArgumentParser) -> None:
    """The network and its starting weights."""
    model = parser.add_argument_group("model")
    model.add_argument(
        "--backbone",
        choices=BACKBONE_NAMES,
        default=_D.backbone,
        help="the network: MambaVision T/S/B on 224x224 mel images, a small CNN on 64-band "
        "log-mels (fast on a CPU), AST on 128-band log-mels, wav2vec2 on raw audio "
        "[default: %(default)s]",
    )
    model.add_argument(
        "--pretrained",
        action="store_true",
        help="start from the backbone's published weights (downloads them)",
    )
    model.add_argument(
        "--weights",
        metavar="PATH",
        help="start the backbone from this weights file (refused when it does not fit)",
    )


def _target_options(parser: argparse.ArgumentParser) -> None:
    """Windows per clip, labels, split, folds and augmentation."""
    targets = parser.add_argument_group("windows and targets")
    targets.add_argument(
        "--windows",
        type=int,
        default=_D.windows,
        metavar="N",
        help=f"evenly spaced {WINDOW_SECONDS:g} s windows per clip [default: %(default)s, "
        "as the seed]",
    )
    targets.add_argument(
        "--window-hop",
        type=float,
        metavar="S",
        help="instead of --windows: one window every S seconds (denser)",
    )
    targets.add_argument(
        "--epoch-windows",
        type=int,
        metavar="N",
        help="each epoch, draw N of each clip's cached windows at random (a dense --window-hop "
        "then acts as time-shift augmentation) [default: every window]",
    )
    targets.add_argument(
        "--labels",
        choices=LABEL_MODES,
        default=_D.labels,
        help="static: each window gets its song's label; dynamic: the mean of the 2 Hz curve "
        "inside the window (windows without annotated frames are masked); both: multitask "
        "[default: %(default)s]",
    )
    targets.add_argument(
        "--split",
        choices=SPLITS,
        default=_D.split,
        help="random: seeded, 70/15/15 by group (a 4Q artist never on two sides), stratified "
        "by DEAM year and 4Q quadrant; music2emo: the DEAM ids Music2Emo reports on "
        "[default: %(default)s]",
    )
    targets.add_argument(
        "--folds",
        type=int,
        metavar="K",
        help="K-fold cross-validation by artist instead of one split (10 in the 4Q "
        "literature): per-fold and mean ± std scores, then a final model on every clip",
    )
    targets.add_argument(
        "--no-final",
        dest="final",
        action="store_false",
        help="with --folds: skip the final model on every clip (to compare recipes faster)",
    )
    targets.add_argument(
        "--label-smoothing",
        default=_D.label_smoothing,
        metavar="E|pquad",
        help="soften quadrant targets: a number E (a sign target of 1 counts as 1 - E/2), or "
        "pquad (by each 4Q clip's share of agreeing mood tags) [default: %(default)s]",
    )
    targets.add_argument(
        "--shuffle-labels",
        action="store_true",
        help="sanity check: permute the labels of the training and validation songs among "
        "them (the test songs keep theirs; test R² should stay near 0)",
    )
    targets.add_argument(
        "--no-spec-augment",
        dest="spec_augment",
        action="store_false",
        help="turn off SpecAugment (random frequency and time masks on the training "
        "log-mels) [default: on]",
    )
    targets.add_argument(
        "--mixup",
        type=float,
        default=_D.mixup,
        metavar="ALPHA",
        help="mixup: blend each training window with another of its batch, weight drawn from "
        "Beta(ALPHA, ALPHA), labels alike (0: off) [default: %(default)s]",
    )


def _loss_options(parser: argparse.ArgumentParser) -> None:
    """The loss on z-scored targets and its penalties."""
    loss = parser.add_argument_group("loss")
    loss.add_argument(
        "--loss",
        choices=LOSS_NAMES,
        default=_D.loss,
        help="base loss on z-scored targets; the two penalties below are added to it "
        "[default: %(default)s]",
    )
    loss.add_argument(
        "--var-weight",
        type=float,
        default=_D.var_weight,
        help="weight of the squared gap between predicted and true batch variance (0: off) "
        "[default: %(default)s]",
    )
    loss.add_argument(
        "--corr-weight",
        type=float,
        default=_D.corr_weight,
        help="weight of 1 - Pearson r per dimension (0: off) [default: %(default)s]",
    )


def _optim_options(parser: argparse.ArgumentParser) -> None:
    """Optimiser, schedule, stopping, precision, device and seed."""
    optim = parser.add_argument_group("optimisation")
    optim.add_argument(
        "--epochs",
        type=int,
        default=_D.epochs,
        help="most epochs to train (may grow with --resume) [default: %(default)s]",
    )
    optim.add_argument(
        "--batch-size",
        type=int,
        default=_D.batch_size,
        help="windows per batch, per process [default: %(default)s]",
    )
    lr_defaults = ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())
    optim.add_argument(
        "--lr",
        type=float,
        help=f"peak learning rate (AdamW) [default: {lr_defaults}, others {FINETUNE_LR:g}]",
    )
    optim.add_argument(
        "--weight-decay",
        type=float,
        default=_D.weight_decay,
        help="AdamW weight decay [default: %(default)s]",
    )
    optim.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        default=_D.scheduler,
        help="cyclic: CyclicLR triangular2 between lr/10 and lr; plateau: halve on a stalled "
        "val loss; cosine: cosine decay to lr/100 [default: %(default)s]",
    )
    optim.add_argument(
        "--patience",
        type=int,
        default=_D.patience,
        help="stop after this many epochs without a better val score [default: %(default)s]",
    )
    optim.add_argument(
        "--monitor",
        choices=MONITORS,
        default=_D.monitor,
        help="best checkpoint by mean val R² (song level; per frame for dynamic labels), "
        "val quadrant macro-F1 (clip level) or val loss; auto: f1 for 4Q alone, r2 for DEAM "
        "alone, loss for both [default: %(default)s]",
    )
    optim.add_argument(
        "--no-amp",
        dest="amp",
        action="store_false",
        help="train in float32 on the GPU too [default: bf16 autocast on GPUs]",
    )
    optim.add_argument(
        "--compile",
        action="store_true",
        help="compile the model for training with torch.compile: on a GPU 1.4-1.6x the "
        "windows/s for MambaVision, after a one-off compilation of a minute or two (cached "
        "for later runs); worth it for long runs [default: off]",
    )
    optim.add_argument(
        "--device",
        choices=DEVICES,
        default=_D.device,
        help="auto: the GPU when there is one, else the CPU [default: %(default)s]",
    )
    optim.add_argument(
        "--seed",
        type=int,
        default=_D.seed,
        help="seeds python, numpy, torch, the split, batch order and augmentation "
        "[default: %(default)s]",
    )
    optim.add_argument(
        "--split-seed",
        type=int,
        metavar="N",
        help="seed the split (or the folds) with N instead of --seed: models trained with "
        "several --seed values on the same folds can be compared or ensembled [default: "
        "--seed]",
    )
    optim.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes decoding audio into the mel cache [default: all CPU cores]",
    )


def _run_options(parser: argparse.ArgumentParser) -> None:
    """The run folder."""
    run = parser.add_argument_group("run folder")
    run.add_argument(
        "--out", metavar="DIR", help="run folder [default: runs/<timestamp>-<backbone>]"
    )
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run where its last finished epoch left off; only "
        "--epochs may change",
    )


def _explicit(parser: argparse.ArgumentParser, argv: list[str]) -> dict:
    """The options this command line actually gives (not their defaults)."""
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return vars(parser.parse_args(argv))


def config_from_args(argv: list[str]) -> TrainConfig:
    """Parse ``argv``; with --resume the run's saved options fill in what is not given."""
    args = vars(build_parser().parse_args(argv))
    names = {f.name for f in fields(TrainConfig)}
    values = {k: _plain(v) for k, v in args.items() if k in names}
    if not args.get("resume"):
        return TrainConfig(**values)
    given = _explicit(build_parser(), argv)
    given = {k: _plain(v) for k, v in given.items() if k in names}
    return replace(saved_config(args["resume"]), **given)


def _plain(value):
    """Paths as text, so a config round-trips through JSON."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def run(args: argparse.Namespace) -> int:
    """`emotrack train`: the options after the command word, parsed as `emotrack-train`'s."""
    return _train(args.command_argv)


def main(argv: list[str] | None = None) -> int:
    """`emotrack-train` (and each torchrun process): train; the exit code."""
    return _train(sys.argv[1:] if argv is None else list(argv))


def _train(argv: list[str]) -> int:
    ctx = from_environment()
    name = f"{PROG} [rank {ctx.rank}]" if ctx.enabled else PROG
    logging.basicConfig(level=logging.WARNING, format=f"{name}: %(message)s", stream=sys.stderr)

    def work() -> int:
        try:
            run_dir = train(config_from_args(argv))
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            return int(exc.code or 0)
        except TrainingStopped as exc:
            print(f"{name}: stopped: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if ctx.main:
            print(run_dir)
        return EXIT_OK

    return guarded(name, work, interrupted="interrupted; files already written are complete")


if __name__ == "__main__":
    sys.exit(main())
