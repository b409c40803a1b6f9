"""A small synthetic 4Q: the authors' layout and CSVs, with quadrants you can hear.

:func:`generate_fourq` writes ``MER_audio_taffc_dataset/Q1..Q4/MT<digits>.mp3`` clips, the
``Song,Quadrant`` annotation file and the quoted metadata file (artists who recur, titles with
commas, quotes and non-ASCII letters, one title in Windows-1252 bytes, PQuad shares), as 4Q
ships them. Each clip's music follows latent valence/arousal curves that stay inside its
quadrant (:mod:`synth_music`), so its label comes from its cues. :class:`FourQFaults` plants
what a reader must report; ``synthetic.json`` records the parameters, the faults and every
clip's curves (the ground truth).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from emotrack.models.atomic import write_atomic
from emotrack.models.errors import UserError
from emotrack.offline.fourq import QUADRANT_SIGNS
from emotrack.offline.synth_music import Drift, clip_mean
from emotrack.offline.synth_writer import (
    MANIFEST,
    SAMPLE_RATES,
    SongPlan,
    prepare_folder,
    write_audio,
)

VERSION = 1
ROOT = Path("MER_audio_taffc_dataset")
ANNOTATIONS = "panda_dataset_taffc_annotations.csv"
METADATA = "panda_dataset_taffc_metadata.csv"
METADATA_HEADER = ("Song", "Artist", "Title", "Quadrant", "PQuad", "MoodsTotal", "GenresStr")
CENTRE = (0.3, 0.8)  # |latent centre| on each axis, inside the clip's quadrant
ARTIST_SIZES = (1, 1, 1, 2, 2, 3)  # clips per artist, drawn in turn
FIRST_ID = 40_632
GENRES = ("Pop/Rock", "Jazz", "Electronic", "Latin", "Classical", "International")


@dataclass(frozen=True)
class FourQFaults:
    """Problems to plant, each on a different clip (counts): ``missing_audio`` annotated clips
    with no MP3, ``bad_rows`` annotation rows with no quadrant cell, ``unknown_quadrant`` rows
    saying Q5, ``corrupt_audio`` MP3s of random bytes."""

    missing_audio: int = 0
    bad_rows: int = 0
    unknown_quadrant: int = 0
    corrupt_audio: int = 0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 0:
                raise UserError(f"FourQFaults.{name} must be a count >= 0, not {value!r}")

    @property
    def total(self) -> int:
        return sum(asdict(self).values())


def generate_fourq(
    out_dir: Path,
    n_clips: int = 40,
    seed: int = 0,
    clip_seconds: float = 30.0,
    faults: FourQFaults | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Write a synthetic 4Q of ``n_clips`` clips (a quarter per quadrant) into ``out_dir`` and
    return it. A folder already holding this exact set is returned as is; one holding another
    synthetic 4Q is replaced; any other non-empty folder is refused."""
    faults = faults or FourQFaults()
    out_dir = Path(out_dir).expanduser()
    if not isinstance(n_clips, int) or n_clips < 4:
        raise UserError(f"n_clips must be a whole number >= 4 (one per quadrant), not {n_clips!r}")
    if not 5.0 <= clip_seconds <= 600:
        raise UserError(f"clip_seconds must be 5..600, not {clip_seconds!r}")
    if faults.total > n_clips // 2:
        raise UserError(f"{faults.total} planted faults for {n_clips} clips; plant at most half")
    parameters = {
        "version": VERSION,
        "dataset": "4q",
        "n_clips": n_clips,
        "seed": seed,
        "clip_seconds": float(clip_seconds),
        "faults": asdict(faults),
    }
    if prepare_folder(out_dir, parameters, (ROOT.parts[0],), "4Q"):
        return out_dir
    rng = np.random.default_rng(seed)
    clips = _plan(rng, n_clips, clip_seconds)
    order = [int(i) for i in rng.permutation(n_clips)]
    planted: dict[str, list[str]] = {}
    for name in ("missing_audio", "bad_rows", "unknown_quadrant", "corrupt_audio"):
        count = getattr(faults, name)
        planted[name], order = sorted(clips[i]["song"] for i in order[:count]), order[count:]
    data = out_dir / ROOT
    write_atomic(data / ANNOTATIONS, _annotations(clips, planted))
    write_atomic(data / METADATA, _metadata(clips))
    jobs = []
    for clip in clips:
        if clip["song"] in planted["missing_audio"]:
            continue
        audio = "garbage" if clip["song"] in planted["corrupt_audio"] else "ok"
        plan = SongPlan(
            song_id=0,
            duration=clip_seconds,
            sample_rate=clip["sample_rate"],
            channels=1,
            valence=Drift(**clip["valence"]),
            arousal=Drift(**clip["arousal"]),
            seed=clip["seed"],
            audio=audio,
        )
        jobs.append((plan, data / f"Q{clip['quadrant']}" / f"{clip['song']}.mp3"))
    write_audio(jobs, progress, workers)
    manifest = {"complete": True, "parameters": parameters, "planted": planted, "clips": clips}
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return out_dir


def _plan(rng: np.random.Generator, n_clips: int, clip_seconds: float) -> list[dict]:
    """Quadrant, latent curves, artist, title and tags of every clip."""
    clips = []
    artist, left = 0, 0
    for i in range(n_clips):
        if left == 0:
            artist += 1
            left = ARTIST_SIZES[artist % len(ARTIST_SIZES)]
        left -= 1
        quadrant = i % 4 + 1
        signs = QUADRANT_SIGNS[quadrant]
        curves = {}
        for name, sign in zip(("valence", "arousal"), signs, strict=True):
            drift = Drift.draw(rng, sign * rng.uniform(*CENTRE))
            curves[name] = asdict(drift)
        clips.append(
            {
                "song": f"MT{FIRST_ID + 7919 * i:010d}",
                "quadrant": quadrant,
                "artist": _artist_name(artist),
                "title": _title(i),
                "pquad": round(float(rng.uniform(0.5, 1.0)), 6),
                "moods": int(rng.integers(2, 12)),
                "genres": "; ".join(rng.choice(GENRES, int(rng.integers(1, 3)), replace=False)),
                "sample_rate": int(SAMPLE_RATES[i % 3 == 0]),
                "seed": int(rng.integers(2**31)),
                **curves,
                "valence_clip_mean": clip_mean(Drift(**curves["valence"]), clip_seconds),
                "arousal_clip_mean": clip_mean(Drift(**curves["arousal"]), clip_seconds),
            }
        )
    return clips


def _artist_name(n: int) -> str:
    return ("Einstürzende Töne", "The Synthetics", "Oscar D'León", "Band, The")[n % 4] + f" {n}"


def _title(i: int) -> str:
    return ("Song, Part II", 'The "Live" Take', "Mírala", "Plain")[i % 4] + f" {i}"


def _annotations(clips: list[dict], planted: dict[str, list[str]]) -> bytes:
    """``Song,Quadrant`` with CRLF, as shipped; planted rows break the quadrant cell."""
    rows = ["Song,Quadrant"]
    for clip in clips:
        if clip["song"] in planted["bad_rows"]:
            rows.append(clip["song"])
        elif clip["song"] in planted["unknown_quadrant"]:
            rows.append(f"{clip['song']},Q5")
        else:
            rows.append(f"{clip['song']},Q{clip['quadrant']}")
    return ("\r\n".join(rows) + "\r\n").encode("ascii")


def _quoted(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    return f"{value:g}" if isinstance(value, float) else str(value)


def _metadata(clips: list[dict]) -> bytes:
    """The quoted metadata CSV in UTF-8, but for one title in Windows-1252 bytes (as some
    exports of 4Q are): a reader must take each line as it comes."""
    lines = [",".join(_quoted(name) for name in METADATA_HEADER).encode("ascii")]
    for k, clip in enumerate(clips):
        cells = (
            clip["song"],
            clip["artist"],
            clip["title"],
            f"Q{clip['quadrant']}",
            clip["pquad"],
            clip["moods"],
            clip["genres"],
        )
        line = ",".join(_quoted(cell) for cell in cells)
        lines.append(line.encode("cp1252" if k == 2 else "utf-8"))
    return b"\r\n".join(lines) + b"\r\n"
