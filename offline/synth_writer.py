"""What both synthetic datasets (``offline.synthetic``: DEAM, ``offline.synthetic_4q``: 4Q)
write the same way: the folder with its ``synthetic.json`` marker, and each song's MP3 from its
plan (rendered by :mod:`synth_music` in worker processes) with its planted audio fault."""

from __future__ import annotations

import json
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import lameenc
import numpy as np
from tqdm import tqdm

from emotrack.models.atomic import write_atomic
from emotrack.models.errors import UserError
from emotrack.offline.synth_music import Drift, render

MANIFEST = "synthetic.json"
SAMPLE_RATES = (22_050, 44_100)
SHORT_SECONDS = 3.0  # a planted too-short clip, under one 5 s model window
TRUNCATED_BYTES = 160  # a planted truncated MP3 keeps this much: not even a header
BITRATES = {(22_050, 1): 64, (44_100, 1): 64, (22_050, 2): 96, (44_100, 2): 128}  # kbps


@dataclass(frozen=True)
class SongPlan:
    """Everything needed to write one song. ``audio`` is ok, missing, garbage, truncated or
    short; ``labelled`` is False for planted unlabelled audio."""

    song_id: int
    duration: float
    sample_rate: int
    channels: int
    valence: Drift
    arousal: Drift
    seed: int
    labelled: bool = True
    audio: str = "ok"


def prepare_folder(out_dir: Path, parameters: dict, parts: tuple[str, ...], name: str) -> bool:
    """True when ``out_dir`` already holds this exact set; otherwise leave it ready to write:
    an older set of the same dataset (``parameters["dataset"]``, DEAM when absent) has its
    ``parts`` removed; another dataset's set, or any other non-empty folder, is refused."""
    manifest = out_dir / MANIFEST
    kind = parameters.get("dataset", "deam")
    if manifest.is_file():
        try:
            previous = json.loads(manifest.read_text())
        except ValueError:
            previous = {}
        if previous.get("complete") and previous.get("parameters") == parameters:
            return True
        if previous.get("parameters", {}).get("dataset", "deam") != kind:
            raise UserError(f"{out_dir}: holds another synthetic dataset; give another folder")
        for part in parts:
            shutil.rmtree(out_dir / part, ignore_errors=True)
    elif out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(
            f"{out_dir}: not empty and not a synthetic {name} (no {MANIFEST}); "
            "give a new or empty folder"
        )
    marker = {"complete": False, "parameters": parameters}
    write_atomic(manifest, json.dumps(marker) + "\n")
    return False


def write_audio(jobs: list[tuple[SongPlan, Path]], progress: bool, workers: int | None) -> None:
    """Render every (plan, path) into its MP3 (in ``workers`` processes; None: one per core)."""
    for folder in {path.parent for _, path in jobs}:
        folder.mkdir(parents=True, exist_ok=True)
    jobs = sorted(jobs, key=lambda job: -job[0].duration)  # longest first balances the workers
    workers = min(os.cpu_count() or 1, len(jobs)) if workers is None else min(workers, len(jobs))
    bar = tqdm(
        total=len(jobs),
        desc="synthesising songs",
        unit="song",
        file=sys.stderr,
        disable=not progress,
    )
    with bar:
        if workers <= 1:
            for plan, path in jobs:
                _write_song(plan, path)
                bar.update()
            return
        # fork: workers start at once (a spawned one re-imports the caller's modules)
        context = get_context("fork" if sys.platform == "linux" else "spawn")
        pool = ProcessPoolExecutor(workers, mp_context=context)
        try:
            futures = [pool.submit(_write_song, plan, path) for plan, path in jobs]
            for future in as_completed(futures):
                future.result()
                bar.update()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _write_song(plan: SongPlan, path: Path) -> Path:
    """Render, encode and (atomically) write one song's MP3, with its planted fault if any."""
    rng = np.random.default_rng(plan.seed)
    if plan.audio == "garbage":
        return write_atomic(path, rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    duration = SHORT_SECONDS if plan.audio == "short" else plan.duration
    samples = render(plan.valence, plan.arousal, duration, plan.sample_rate, plan.channels, rng)
    data = encode_mp3(samples, plan.sample_rate)
    return write_atomic(path, data[:TRUNCATED_BYTES] if plan.audio == "truncated" else data)


def encode_mp3(samples: np.ndarray, sample_rate: int) -> bytes:
    """(frames, channels) float32 -> constant-bit-rate MP3 bytes (LAME, about 5x faster than
    libsndfile's encoder)."""
    channels = samples.shape[1]
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(BITRATES[(sample_rate, channels)])
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(channels)
    encoder.set_quality(7)  # fast; the cues are coarse
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
    return bytes(encoder.encode(pcm) + encoder.flush())
