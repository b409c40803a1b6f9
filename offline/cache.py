"""Front-end features computed once per clip and kept on disk, so training never decodes twice.

A cache folder is keyed by every audio parameter and the windowing
(``<cache_root>/<audio.key()>-<windowing.key()>/``) and holds one ``<key>.npz`` per clip
(``Clip.key``: the features, the window starts and a stamp of the audio file they came from) plus
``cache.json`` naming the parameters. A clip whose audio cannot be used gets
``<key>.problem.json`` instead, so a rerun reports it without decoding again. A changed
parameter means another folder; a changed audio file (size or modification time) is
recomputed. Files are written under a temporary name and renamed, so an interrupted build leaves
only whole files, and a rerun skips what is done. Features come from
:class:`emotrack.models.frontend.FrontEnd`; nothing of the front end is reimplemented here.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import psutil
import torch
from tqdm import tqdm

from emotrack.models.atomic import write_atomic
from emotrack.models.audio import (
    TRAIN_WINDOWS_PER_CLIP,
    AudioConfig,
    audio_info,
    frame_windows,
    load_audio,
    window_starts,
)
from emotrack.models.errors import UserError
from emotrack.models.frontend import FrontEnd

FORMAT_VERSION = 2  # 2: entries named by clip key (deam-12, 4q-MT...)
PARAMETERS_FILE = "cache.json"
PARTIAL_SUFFIX = ".partial"
PROBLEM_SUFFIX = ".problem.json"
BATCH_WINDOWS = 32  # windows through the front end at once (bounds memory on full songs)
TRUNCATED_SHARE = 0.5  # decoding less than this share of the header's length means truncated


class CacheError(UserError):
    """A cache entry that cannot be used; the message names it and the fix."""


@dataclass(frozen=True)
class Windowing:
    """Where the windows of a clip start: ``count`` evenly spaced over the clip (training),
    or one every ``hop_seconds`` (dense, for dynamic labels). Exactly one is given."""

    count: int | None = TRAIN_WINDOWS_PER_CLIP
    hop_seconds: float | None = None

    def __post_init__(self) -> None:
        if (self.count is None) == (self.hop_seconds is None):
            raise UserError(
                f"windowing needs exactly one of count or hop_seconds, not count={self.count!r} "
                f"and hop_seconds={self.hop_seconds!r}"
            )
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise UserError(f"window count must be a whole number >= 1, not {self.count!r}")
        if self.hop_seconds is not None and not self.hop_seconds > 0:
            raise UserError(f"window hop must be > 0 seconds, not {self.hop_seconds!r}")

    def key(self) -> str:
        """Folder-name part: ``count6`` or ``hop0.5s``."""
        return f"count{self.count}" if self.count is not None else f"hop{self.hop_seconds:g}s"

    def starts(self, n_samples: int, audio: AudioConfig) -> np.ndarray:
        """Start samples of the windows of ``n_samples`` of audio."""
        return window_starts(n_samples, audio, step_seconds=self.hop_seconds, count=self.count)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CacheProblem:
    """A clip left out of the cache, and why (the message names the file and the fix)."""

    key: str
    path: Path | None
    message: str


@dataclass
class MelCache:
    """Cached features of the clips ``keys`` in ``directory``; those that failed are in
    ``problems``."""

    directory: Path
    audio: AudioConfig
    windowing: Windowing
    keys: list[str]
    problems: list[CacheProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._keys = set(self.keys)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def load(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(features float32 (N, *feature_shape), window starts in seconds (N,))."""
        if key not in self._keys:
            why = next((p.message for p in self.problems if p.key == key), None)
            raise CacheError(
                f"{key} is not in the cache {self.directory}"
                + (f" ({why})" if why else "; build the cache with this clip first")
            )
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as data:
                return data["features"], data["starts"]
        except (OSError, ValueError, KeyError) as exc:
            raise CacheError(
                f"{path}: unreadable cache entry ({exc}); delete it and build the cache again"
            ) from None


def cache_directory(cache_root: Path, audio: AudioConfig, windowing: Windowing) -> Path:
    """``<cache_root>/<audio.key()>-<windowing.key()>``."""
    return Path(cache_root).expanduser() / f"{audio.key()}-{windowing.key()}"


def build_cache(
    clips,
    audio: AudioConfig,
    windowing: Windowing,
    cache_root: Path,
    workers: int | None = None,
    progress: bool = True,
) -> MelCache:
    """Compute and store the front-end features of ``clips`` (objects with ``.key`` and
    ``.audio_path``), skipping clips already cached from the same audio file. ``workers``
    processes share the work (None: one per CPU core; 1: in this process). Clips whose audio
    cannot be used are skipped and listed in the result's ``problems``."""
    directory = cache_directory(cache_root, audio, windowing)
    _prepare(directory, audio, windowing)
    problems: list[CacheProblem] = []
    done: list[str] = []
    todo: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for clip in clips:
        key = str(clip.key)
        if key in seen:
            continue
        seen.add(key)
        path = None if clip.audio_path is None else Path(clip.audio_path)
        stamp = _stamp(path)
        if stamp is None:
            message = (
                f"{key}: no audio file; add it to the data folder"
                if path is None
                else f"{path}: no such file ({key}); restore it or fix the path"
            )
            problems.append(CacheProblem(key, path, message))
        elif _cached_stamp(directory / f"{key}.npz") == stamp:
            done.append(key)
        elif (known := _known_problem(directory / f"{key}{PROBLEM_SUFFIX}", stamp)) is not None:
            problems.append(CacheProblem(key, path, known))
        else:
            todo.append((key, path))
    paths = dict(todo)
    for key, message in _compute(todo, audio, windowing, directory, workers, progress):
        if message is None:
            done.append(key)
        else:
            problems.append(CacheProblem(key, paths[key], message))
    problems.sort(key=lambda p: p.key)
    return MelCache(directory, audio, windowing, sorted(done), problems)


# ---------------------------------------------------------------------------- folder


def _parameters(audio: AudioConfig, windowing: Windowing) -> dict:
    return {"format": FORMAT_VERSION, "audio": audio.to_dict(), "windowing": windowing.to_dict()}


def _prepare(directory: Path, audio: AudioConfig, windowing: Windowing) -> None:
    """Create the folder; drop entries made under other parameters and dead builds' temp files."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = _parameters(audio, windowing)
    info = directory / PARAMETERS_FILE
    try:
        current = json.loads(info.read_text())
    except (OSError, ValueError):
        current = None
    if current != wanted:
        for pattern in ("*.npz", f"*{PROBLEM_SUFFIX}"):
            for stale in directory.glob(pattern):
                stale.unlink(missing_ok=True)
        write_atomic(info, json.dumps(wanted, indent=1, sort_keys=True) + "\n")
    for partial in directory.glob(f".*{PARTIAL_SUFFIX}"):
        pid = partial.name.split(".")[-2]
        if not (pid.isdigit() and psutil.pid_exists(int(pid))):
            partial.unlink(missing_ok=True)


def _stamp(path: Path | None) -> str | None:
    """What identifies the audio a cache entry came from: path, size, modification time."""
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns])


def _known_problem(path: Path, stamp: str) -> str | None:
    """The message recorded for this very audio file, if it failed before."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record.get("message") if record.get("source") == stamp else None


def _cached_stamp(path: Path) -> str | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["source"])
    except (OSError, ValueError, KeyError):
        return None


# ---------------------------------------------------------------------------- work


def _compute(todo, audio, windowing, directory, workers, progress):
    """Yield (key, problem message or None) for every clip in ``todo``."""
    if not todo:
        return
    workers = min(os.cpu_count() or 1, len(todo)) if workers is None else min(workers, len(todo))
    bar = tqdm(
        total=len(todo), desc="caching features", unit="clip", file=sys.stderr, disable=not progress
    )
    with bar:
        if workers <= 1:
            front = FrontEnd(audio)
            for key, path in todo:
                yield key, cache_clip(key, path, front, windowing, directory)
                bar.update()
            return
        # fork shares the imported torch (a spawned worker spends seconds importing it); each
        # worker then runs torch on one thread, as DataLoader workers do
        context = get_context("fork" if sys.platform == "linux" else "spawn")
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(audio,)
        )
        try:
            futures = {
                pool.submit(_worker_clip, key, path, windowing, directory): key
                for key, path in todo
            }
            for future in as_completed(futures):
                yield futures[future], future.result()
                bar.update()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


_FRONT: FrontEnd | None = None  # one per worker process


def _start_worker(audio: AudioConfig) -> None:
    global _FRONT
    torch.set_num_threads(1)
    _FRONT = FrontEnd(audio)


def _worker_clip(key: str, path: Path, windowing: Windowing, directory: Path) -> str | None:
    return cache_clip(key, path, _FRONT, windowing, directory)


def cache_clip(
    key: str, path: Path, front: FrontEnd, windowing: Windowing, directory: Path
) -> str | None:
    """Decode, window and featurise one clip into ``directory``; a problem message (also
    recorded beside the entries) or None."""
    audio = front.config
    stamp = _stamp(path)
    message = None
    try:
        info = audio_info(path)
        samples = load_audio(path, audio.sample_rate)
    except UserError as exc:
        message = f"{exc}; the clip is left out"
    else:
        promised = info.frames / info.samplerate if info.samplerate > 0 else 0.0
        decoded = len(samples) / audio.sample_rate
        if len(samples) == 0 or decoded < TRUNCATED_SHARE * promised:
            message = (
                f"{path}: decoded {decoded:.2f} s of the {promised:.2f} s its header announces; "
                "the file is truncated or damaged, replace it"
            )
    if message is not None:
        record = {"source": stamp, "message": message}
        write_atomic(directory / f"{key}{PROBLEM_SUFFIX}", json.dumps(record) + "\n")
        return message
    starts = windowing.starts(len(samples), audio)
    features = np.concatenate(
        [
            front.features(torch.from_numpy(frame_windows(samples, part, audio))).numpy()
            for part in np.array_split(starts, -(-len(starts) // BATCH_WINDOWS))
        ]
    ).astype(np.float32, copy=False)
    _save(
        directory / f"{key}.npz",
        features=features,
        starts=starts / audio.sample_rate,
        source=np.array(stamp),
    )
    return None


def _save(path: Path, **arrays: np.ndarray) -> None:
    """np.savez to a temporary name beside ``path``, then rename over it."""
    partial = path.with_name(f".{path.name}.{os.getpid()}{PARTIAL_SUFFIX}")
    try:
        with open(partial, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
