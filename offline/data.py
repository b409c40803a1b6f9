"""A run's data: the clips of its datasets, their cached features, the split and the windows.

:func:`gather` finds (or generates) every dataset the run names, turns each usable song or clip
into a :class:`~emotrack.offline.clips.Clip` and fills the feature cache once (rank 0 first).
:func:`prepare` then splits, computes the label scale on train+val and stacks the windows of
each part; a cross-validation calls it once per fold on the same pool.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emotrack.models.atomic import write_json
from emotrack.models.audio import AudioConfig
from emotrack.models.emotion import LabelScale
from emotrack.models.errors import UserError
from emotrack.offline import distributed
from emotrack.offline.cache import MelCache, Windowing, build_cache
from emotrack.offline.clips import Clip, from_deam, from_fourq
from emotrack.offline.dataset import WindowSet, build_windows, shuffled_labels
from emotrack.offline.distributed import Dist
from emotrack.offline.log import log
from emotrack.offline.splits import Split, grouped_split, label_scale, music2emo_split

DEFAULT_CACHE = Path.home() / ".cache" / "emotrack"
MIN_SPLIT_CLIPS = 1
SHOWN_PROBLEMS = 10  # problems of a dataset listed in the log; the audit lists them all
FOURQ_SOURCE = "http://mir.dei.uc.pt (the 4Q audio emotion dataset)"


@dataclass
class Pool:
    """Every usable clip of a run by key, and the cache holding their features."""

    clips: dict[str, Clip]
    cache: MelCache
    audio: AudioConfig
    roots: dict[str, Path]  # dataset -> the folder it was read from


@dataclass
class Data:
    """Clips, split, label scale and the in-memory windows of each part."""

    clips: dict[str, Clip]  # key -> clip (true labels)
    split: Split
    scale: LabelScale
    parts: dict[str, WindowSet]  # train, val, test


# ---------------------------------------------------------------------------- finding data


def rank0_first(ctx: Dist, make: Callable[[], object]) -> object:
    """``make()`` on rank 0, then on the other ranks, which find its work done (a download,
    generated data, the feature cache)."""
    if ctx.main:
        result = make()
    distributed.barrier(ctx)
    if not ctx.main:
        result = make()
    return result


def data_roots(config, run_dir: Path, ctx: Dist) -> dict[str, Path]:
    """The folder of each dataset: --data-dir (one for all, or one per --dataset in order), a
    --download (DEAM), or a --synthetic set generated once per dataset."""
    datasets = list(config.dataset)
    if config.synthetic is not None:
        return {
            name: rank0_first(ctx, lambda n=name: _synthetic(config, run_dir, ctx, n))
            for name in datasets
        }
    if config.download:
        if datasets != ["deam"]:
            raise UserError(
                f"--download fetches DEAM only; 4Q is published at {FOURQ_SOURCE}: download "
                "and unpack it, then pass --data-dir"
            )
        from emotrack.offline.deam import find_deam_root

        return {"deam": rank0_first(ctx, lambda: find_deam_root(None, True))}
    dirs = [Path(d).expanduser() for d in config.data_dir]
    if len(dirs) not in (1, len(datasets)):
        raise UserError(
            f"{len(dirs)} --data-dir folders for {len(datasets)} datasets "
            f"({', '.join(datasets)}): give one folder holding them all, or one per dataset "
            "in the order of --dataset"
        )
    roots = {}
    for name, folder in zip(
        datasets, dirs * len(datasets) if len(dirs) == 1 else dirs, strict=True
    ):
        if not folder.is_dir():
            raise UserError(f"--data-dir {folder}: no such folder")
        roots[name] = folder
    return roots


def _synthetic(config, run_dir: Path, ctx: Dist, dataset: str) -> Path:
    seconds = config.synthetic_seconds
    name = f"synthetic-{dataset}-{config.synthetic}x{seconds:g}s"
    root = (
        Path(config.cache_dir).expanduser() / name
        if config.cache_dir
        else run_dir / "data" / dataset
    )
    if dataset == "4q":
        from emotrack.offline.synthetic_4q import generate_fourq

        return generate_fourq(
            root, config.synthetic, clip_seconds=seconds, progress=ctx.main, workers=config.workers
        )
    from emotrack.offline.synthetic import generate_deam

    return generate_deam(
        root,
        n_songs=config.synthetic,
        clip_seconds=seconds,
        progress=ctx.main,
        workers=config.workers,
    )


def load_clips(dataset: str, root: Path, labels: str, progress: bool) -> tuple[list[Clip], list]:
    """Usable clips of one dataset under ``root`` and the problems met reading it."""
    if dataset == "4q":
        from emotrack.offline.fourq import load_fourq

        fourq = load_fourq(root, progress=progress)
        return [from_fourq(c) for c in fourq.usable()], fourq.problems
    from emotrack.offline.deam import load_deam

    deam = load_deam(root, progress=progress)
    return [from_deam(s) for s in deam.labelled(labels)], deam.problems


def gather(config, run_dir: Path, ctx: Dist, audio: AudioConfig, windowing: Windowing) -> Pool:
    """Every dataset of the run read, its usable clips cached; problems logged by name."""
    roots = data_roots(config, run_dir, ctx)
    clips: list[Clip] = []
    for dataset, root in roots.items():
        found, problems = load_clips(dataset, root, config.labels, ctx.main)
        if ctx.main:
            _log_problems(dataset, root, problems)
        if not found:
            labels = "quadrant" if dataset == "4q" else config.labels
            raise UserError(
                f"{root}: no {dataset} clip has {labels} labels and readable audio (run "
                f"`emotrack audit {root}` to see why); check the data"
            )
        clips += found
    cache_root = _cache_root(config, run_dir)
    cache = rank0_first(
        ctx, lambda: build_cache(clips, audio, windowing, cache_root, config.workers, ctx.main)
    )
    if ctx.main:
        for problem in cache.problems:
            log(f"left out: {problem.message}")
    return Pool({c.key: c for c in clips if c.key in cache}, cache, audio, roots)


def _log_problems(dataset: str, root: Path, problems: list) -> None:
    for problem in problems[:SHOWN_PROBLEMS]:
        log(f"{dataset}: {problem.message}")
    if len(problems) > SHOWN_PROBLEMS:
        log(
            f"{dataset}: {len(problems) - SHOWN_PROBLEMS} more problems; `emotrack audit {root}` "
            "lists them all"
        )


def _cache_root(config, run_dir: Path) -> Path:
    """Features of generated data without --cache-dir stay in the run folder; the rest go to
    --cache-dir (default ~/.cache/emotrack)."""
    if config.synthetic is not None and not config.cache_dir:
        return run_dir / "cache"
    return Path(config.cache_dir).expanduser() if config.cache_dir else DEFAULT_CACHE


# ---------------------------------------------------------------------------- one split


def choose_split(config, saved: Path, clips: list[Clip], resume: bool) -> Split:
    """A resumed run's saved split, else a new one; UserError when a part is empty."""
    if resume and saved.is_file():
        split = Split.from_dict(json.loads(saved.read_text()))
    elif config.split == "music2emo":
        split = music2emo_split(clips)
    else:
        split = grouped_split(clips, seed=config.splitting_seed)
    check_split(split, config.split, len(clips))
    return split


def check_split(split: Split, kind: str, n_clips: int) -> None:
    sizes = {part: len(getattr(split, part)) for part in ("train", "val", "test")}
    empty = [part for part, size in sizes.items() if size < MIN_SPLIT_CLIPS]
    if empty:
        hint = (
            "--split music2emo needs DEAM's real song ids; use --split random"
            if kind == "music2emo"
            else "use more clips (at least 10; --synthetic 40 for a generated set)"
        )
        raise UserError(
            f"the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty: "
            f"{n_clips} usable clips gave "
            f"{sizes['train']}/{sizes['val']}/{sizes['test']} train/val/test; {hint}"
        )


def prepare(config, pool: Pool, split: Split, run_dir: Path, ctx: Dist, files: dict) -> Data:
    """Label scale (train+val), windows of each part; rank 0 writes audio/labels/split files."""
    clips = pool.clips
    scale = label_scale(clips, split.train + split.val, config.labels)
    # the sanity check permutes every label that training and model selection see
    seen = [clips[k] for k in split.train + split.val]
    labels_from = shuffled_labels(seen, config.seed) if config.shuffle_labels else None
    parts = {
        part: build_windows(
            [clips[k] for k in getattr(split, part)],
            pool.cache.load,
            pool.audio.window_seconds,
            None if part == "test" else labels_from,
        )
        for part in ("train", "val", "test")
        if getattr(split, part)
    }
    if ctx.main:
        for name, content in (("audio", pool.audio), ("labels", scale), ("split", split)):
            write_json(run_dir / files[name], content.to_dict())
        sizes = "/".join(str(len(getattr(split, p))) for p in ("train", "val", "test"))
        windows = "/".join(
            str(len(parts[p])) if p in parts else "0" for p in ("train", "val", "test")
        )
        log(
            f"data: {', '.join(f'{d} {r}' for d, r in pool.roots.items())} | {sizes} clips, "
            f"{windows} windows (train/val/test) | "
            + ", ".join(parts["train"].kinds())
            + " targets"
            + (" SHUFFLED (sanity check)" if config.shuffle_labels else "")
        )
    return Data(clips, split, scale, parts)
