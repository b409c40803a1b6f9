"""A small synthetic DEAM: the real files, layout and quirks, with emotion you can hear.

:func:`generate_deam` writes a folder laid out like the Kaggle copy of DEAM: static CSVs (spaces
after the header's commas, CRLF, the 2015 file's 13 columns with the ``valence_ max_mean``
typo), wide dynamic CSVs (``song_id,sample_15000ms,...`` at 2 Hz, empty cells past a song's
end) and MP3 audio (22.05 or 44.1 kHz, mono and some stereo). Each song follows smooth latent
valence/arousal curves and its music is a fixed function of them (:mod:`synth_music`): the
dynamic files hold the curves, the static means are ``5 + 4 * mean(curve) + rater noise``.
:class:`Faults` plants problems a loader must report; ``synthetic.json`` at the root records the
parameters, the planted faults and every song's curves and cues (the ground truth). The label
files are :mod:`synthetic_labels`' to write, the folder and the MP3s :mod:`synth_writer`'s.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from emotrack.models.atomic import write_atomic
from emotrack.models.errors import UserError
from emotrack.offline.synth_music import CONTROL_RATE, CUES, Drift, clip_mean, cue_summary
from emotrack.offline.synth_writer import (
    MANIFEST,
    SAMPLE_RATES,
    SHORT_SECONDS,
    SongPlan,
    prepare_folder,
    write_audio,
)
from emotrack.offline.synthetic_labels import (
    ANNOTATIONS,
    DYNAMIC_DIR,
    DYNAMIC_START,
    DYNAMIC_STEP,
    STATIC_DIR,
    label_rows,
    write_labels,
)

VERSION = 1
AUDIO_DIR = Path("DEAM_audio/MEMD_audio")
YEAR_RANGES = {2013: (2, 1000), 2014: (1001, 2000), 2015: (2001, 2058)}
SHARE_2013 = 744 / 1744  # of the 45 s excerpts, as in DEAM
FULL_SONG_FACTOR = (2.0, 4.0)  # a 2015 full song lasts this many clip lengths
VARIANT_SHARE = 0.15  # of the audio files: stereo; and (independently) 44.1 kHz
CENTRE_LIMIT = 0.85  # latent centres spread evenly over -0.85..0.85 on both axes


@dataclass(frozen=True)
class Faults:
    """Problems to plant, each on different songs (counts of songs).

    missing_audio: labelled songs with no MP3. unlabelled_audio: extra MP3s in no label file.
    malformed_rows: static rows broken, alternately too few fields and a value that is not a
    number. corrupt_audio: MP3s nothing can read, alternately random bytes and a file cut to
    its first bytes. short_audio: MP3s of 3 s (under one model window) although labelled for
    the whole clip. swapped_year: that year's static valence and arousal columns are swapped,
    so they disagree with its dynamic curves. dynamic_gaps: songs with empty cells (valence)
    and ``NaN`` cells (arousal) inside their dynamic rows.
    """

    missing_audio: int = 0
    unlabelled_audio: int = 0
    malformed_rows: int = 0
    corrupt_audio: int = 0
    short_audio: int = 0
    swapped_year: int | None = None
    dynamic_gaps: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "swapped_year" and (not isinstance(value, int) or value < 0):
                raise UserError(f"Faults.{f.name} must be a count >= 0, not {value!r}")
        if self.swapped_year is not None and self.swapped_year not in YEAR_RANGES:
            raise UserError(
                f"Faults.swapped_year must be one of {sorted(YEAR_RANGES)} or None, "
                f"not {self.swapped_year!r}"
            )


def generate_deam(
    out_dir: Path,
    n_songs: int = 40,
    seed: int = 0,
    clip_seconds: float = 45.0,
    faults: Faults | None = None,
    progress: bool = True,
    workers: int | None = None,
    *,
    full_songs: int = 0,
    label_noise: float = 0.15,
) -> Path:
    """Write a synthetic DEAM of ``n_songs`` labelled songs into ``out_dir`` and return it.

    ``full_songs`` of them are 2015 full songs (ids 2001..; 2 to 4 clips long, own static file);
    the rest are ``clip_seconds`` excerpts with 2013 and 2014 ids. ``label_noise`` is the rater
    noise (std, 1..9 scale) on the static means. ``workers`` processes render the audio (None:
    one per CPU core, 1: in this process). The same arguments always give the same label files.
    A folder already holding this exact set is returned as is; one holding an older synthetic
    set is replaced; any other non-empty folder is refused.
    """
    faults = faults or Faults()
    out_dir = Path(out_dir).expanduser()
    parameters = _check_arguments(n_songs, seed, clip_seconds, full_songs, label_noise, faults)
    if prepare_folder(out_dir, parameters, (ANNOTATIONS.parts[0], AUDIO_DIR.parts[0]), "DEAM"):
        return out_dir
    plans, planted = _plan(parameters, faults)
    static_rows, dynamic_rows, planted_rows = label_rows(plans, planted, parameters)
    planted.update(planted_rows)
    write_labels(out_dir, static_rows, dynamic_rows)
    _write_audio([p for p in plans if p.audio != "missing"], out_dir, progress, workers)
    manifest = _manifest(parameters, plans, planted, static_rows)
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return out_dir


def load_manifest(root: Path) -> dict:
    """The ground truth ``generate_deam`` wrote (``synthetic.json``)."""
    path = Path(root) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read the synthetic manifest ({exc}); regenerate") from None


# ---------------------------------------------------------------------------- planning


def _check_arguments(n_songs, seed, clip_seconds, full_songs, label_noise, faults) -> dict:
    if not isinstance(n_songs, int) or n_songs < 1:
        raise UserError(f"n_songs must be a whole number >= 1, not {n_songs!r}")
    if not DYNAMIC_START + DYNAMIC_STEP <= clip_seconds <= 600:
        raise UserError(
            f"clip_seconds must be {DYNAMIC_START + DYNAMIC_STEP:g}..600 (dynamic labels start "
            f"at {DYNAMIC_START:g} s), not {clip_seconds!r}"
        )
    last_2015 = YEAR_RANGES[2015][1] - YEAR_RANGES[2015][0] + 1
    if not 0 <= full_songs <= min(n_songs, last_2015):
        raise UserError(f"full_songs must be 0..{min(n_songs, last_2015)}, not {full_songs!r}")
    if not 0 <= label_noise <= 2:
        raise UserError(f"label_noise must be 0..2 (std on the 1..9 scale), not {label_noise!r}")
    clips = n_songs - full_songs
    room = YEAR_RANGES[2014][1] - YEAR_RANGES[2013][0] + 1
    if clips > room:
        raise UserError(
            f"{n_songs} songs with {full_songs} full songs need {clips} excerpts, but DEAM's "
            f"excerpt ids hold at most {room}; generate fewer songs (DEAM itself has 1802)"
        )
    year = faults.swapped_year
    if year is not None and not _year_counts(n_songs, full_songs)[year]:
        raise UserError(
            f"Faults.swapped_year={year} but no song of that year is generated; pick a year "
            "with songs (2015 needs full_songs > 0)"
        )
    needed = (
        faults.missing_audio
        + faults.malformed_rows
        + faults.corrupt_audio
        + faults.short_audio
        + faults.dynamic_gaps
    )
    if needed > clips:
        raise UserError(
            f"the faults need {needed} different excerpts but only {clips} are generated; "
            "raise n_songs or plant fewer faults"
        )
    free = YEAR_RANGES[2014][1] - YEAR_RANGES[2013][0] + 1 - clips
    if faults.unlabelled_audio > free:
        raise UserError(f"unlabelled_audio must be at most {free} (free song ids)")
    return {
        "version": VERSION,
        "n_songs": n_songs,
        "seed": seed,
        "clip_seconds": float(clip_seconds),
        "full_songs": full_songs,
        "label_noise": float(label_noise),
        "faults": asdict(faults),
    }


def _year_counts(n_songs: int, full_songs: int) -> dict[int, int]:
    """Songs per year: excerpts split between 2013 and 2014 as in DEAM (what one year's ids
    cannot hold goes to the other), full songs are 2015."""
    clips = n_songs - full_songs
    room_2014 = YEAR_RANGES[2014][1] - YEAR_RANGES[2014][0] + 1
    in_2014 = min(clips - round(clips * SHARE_2013), room_2014)
    return {2013: clips - in_2014, 2014: in_2014, 2015: full_songs}


def _spread(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` values covering -CENTRE_LIMIT..CENTRE_LIMIT evenly (one per stratum, shuffled)."""
    return CENTRE_LIMIT * (2.0 * (rng.permutation(n) + rng.random(n)) / n - 1.0)


def _plan(parameters: dict, faults: Faults) -> tuple[list[SongPlan], dict]:
    rng = np.random.default_rng(parameters["seed"])
    clip = parameters["clip_seconds"]
    counts = _year_counts(parameters["n_songs"], parameters["full_songs"])
    clips = []
    for year in (2013, 2014):
        lo, hi = YEAR_RANGES[year]
        clips += rng.choice(np.arange(lo, hi + 1), counts[year], replace=False).tolist()
    clips.sort()
    full = list(range(2001, 2001 + counts[2015]))
    unused = np.setdiff1d(np.arange(2, 2001), clips)
    extra = sorted(int(i) for i in rng.choice(unused, faults.unlabelled_audio, replace=False))

    order = [int(i) for i in rng.permutation(clips)]
    picked: dict[str, list[int]] = {}
    for name in ("missing_audio", "corrupt_audio", "short_audio", "malformed_rows"):
        count = getattr(faults, name)
        picked[name], order = sorted(order[:count]), order[count:]
    picked["dynamic_gaps"] = sorted(order[: faults.dynamic_gaps])
    audio_state = {i: "missing" for i in picked["missing_audio"]}
    for k, song_id in enumerate(picked["corrupt_audio"]):
        audio_state[song_id] = ("garbage", "truncated")[k % 2]
    audio_state.update({i: "short" for i in picked["short_audio"]})

    all_ids = clips + full + extra
    with_audio = [i for i in all_ids if audio_state.get(i, "ok") != "missing"]
    n_variant = max(1, int(round(VARIANT_SHARE * len(with_audio))))
    stereo = set(rng.permutation(with_audio)[:n_variant].tolist())
    fast = set(rng.permutation(with_audio)[:n_variant].tolist())
    valence_centres, arousal_centres = _spread(rng, len(all_ids)), _spread(rng, len(all_ids))
    plans = []
    for k, song_id in enumerate(all_ids):
        duration = clip * rng.uniform(*FULL_SONG_FACTOR) if song_id > 2000 else clip
        plans.append(
            SongPlan(
                song_id=song_id,
                duration=round(float(duration), 3),
                sample_rate=SAMPLE_RATES[song_id in fast],
                channels=2 if song_id in stereo else 1,
                valence=Drift.draw(rng, valence_centres[k]),
                arousal=Drift.draw(rng, arousal_centres[k]),
                seed=int(rng.integers(2**31)),
                labelled=song_id not in extra,
                audio=audio_state.get(song_id, "ok"),
            )
        )
    plans.sort(key=lambda p: p.song_id)
    planted = {
        "missing_audio": picked["missing_audio"],
        "unlabelled_audio": extra,
        "corrupt_audio": [{"song_id": i, "kind": audio_state[i]} for i in picked["corrupt_audio"]],
        "short_audio": picked["short_audio"],
        "malformed_rows": picked["malformed_rows"],
        "swapped_year": faults.swapped_year,
        "swapped_ids": sorted(
            p.song_id for p in plans if p.labelled and _year(p.song_id) == faults.swapped_year
        ),
        "dynamic_gaps": picked["dynamic_gaps"],
    }
    return plans, planted


def _year(song_id: int) -> int:
    return next(year for year, (lo, hi) in YEAR_RANGES.items() if lo <= song_id <= hi)


# ---------------------------------------------------------------------------- audio


def _write_audio(plans: list[SongPlan], out_dir: Path, progress: bool, workers: int | None):
    folder = out_dir / AUDIO_DIR
    write_audio([(plan, folder / f"{plan.song_id}.mp3") for plan in plans], progress, workers)


# ---------------------------------------------------------------------------- manifest


def _manifest(parameters: dict, plans: list[SongPlan], planted: dict, static_rows) -> dict:
    songs = {}
    for plan in plans:
        grid = np.arange(0.0, plan.duration, 1.0 / CONTROL_RATE)
        songs[str(plan.song_id)] = {
            "year": _year(plan.song_id),
            "duration": plan.duration,
            "audio_seconds": SHORT_SECONDS if plan.audio == "short" else plan.duration,
            "sample_rate": plan.sample_rate,
            "channels": plan.channels,
            "audio": plan.audio,
            "labelled": plan.labelled,
            "valence_clip_mean": clip_mean(plan.valence, plan.duration),
            "arousal_clip_mean": clip_mean(plan.arousal, plan.duration),
            "valence": plan.valence.to_dict(),
            "arousal": plan.arousal.to_dict(),
            "cues": cue_summary(plan.valence(grid), plan.arousal(grid)),
        }
    return {
        "complete": True,
        "parameters": parameters,
        "layout": {
            "static": [str(STATIC_DIR / name) for name in static_rows],
            "dynamic": [str(DYNAMIC_DIR / f"{d}.csv") for d in ("valence", "arousal")],
            "audio": str(AUDIO_DIR),
        },
        "planted": planted,
        "cue_mapping": CUES,
        "songs": songs,
    }
