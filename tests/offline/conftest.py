"""Fixtures for tests/offline: tiny real MP3s and DEAM folders written the way DEAM ships."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

# Folder layouts DEAM copies come in: (static labels, dynamic labels, audio), relative to root.
_AVERAGED = "DEAM_Annotations/annotations/annotations averaged per song"
DEAM_LAYOUTS = {
    "kaggle": (
        f"{_AVERAGED}/song_level",
        f"{_AVERAGED}/dynamic (per second annotations)",
        "DEAM_audio/MEMD_audio",
    ),
    "underscores": (
        "DEAM_Annotations/annotations/annotations_averaged_per_song/song_level",
        "DEAM_Annotations/annotations/annotations_averaged_per_song/dynamic_(per_second_annotations)",
        "DEAM_audio/MEMD_audio",
    ),
    "extra-levels": (
        "my deam/DEAM_Annotations/annotations/annotations/annotations averaged per song/song_level",
        "my deam/DEAM_Annotations/annotations/annotations/annotations averaged per song/dynamic",
        "my deam/DEAM_audio/DEAM_audio/MEMD_audio",
    ),
    "flat": ("", "", ""),
}
STATIC_HEADER = "song_id, valence_mean, valence_std, arousal_mean, arousal_std"
STATIC_2015_HEADER = (
    "song_id, valence_mean, valence_std, valence_ max_mean, valence_max_std, valence_min_mean, "
    "valence_min_std, arousal_mean, arousal_std, arousal_max_mean, arousal_max_std, "
    "arousal_min_mean, arousal_min_std"
)
MP3_RATE = 8000  # the lowest rate keeps encoding fast


@pytest.fixture(scope="session")
def mp3(tmp_path_factory):
    """mp3(seconds) -> path of a real MP3 tone of that length (made once per length)."""
    folder = tmp_path_factory.mktemp("mp3")
    made: dict[float, Path] = {}

    def make(seconds: float) -> Path:
        if seconds not in made:
            t = np.arange(int(round(seconds * MP3_RATE))) / MP3_RATE
            path = folder / f"{seconds:g}s.mp3"
            sf.write(path, (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), MP3_RATE)
            made[seconds] = path
        return made[seconds]

    return make


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _write(path: Path, lines: list[str]) -> None:
    """CRLF, as the real files have."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())


@pytest.fixture
def write_deam(mp3):
    """write_deam(root, songs, layout="kaggle") writes a DEAM folder and returns root.

    ``songs``: {song_id: {"static": (valence_mean, valence_std, arousal_mean, arousal_std),
    "valence": [values from 15 s at 2 Hz], "arousal": [...], "audio": seconds or "corrupt"}};
    any key may be left out. Static rows of ids > 2000 go to the 13-column 2015 file; the
    dynamic files are as wide as the longest curve, shorter rows end in empty cells.
    """

    def write(root: Path, songs: dict[int, dict], layout: str = "kaggle") -> Path:
        static_dir, dynamic_dir, audio_dir = (root / part for part in DEAM_LAYOUTS[layout])
        early = [(i, s["static"]) for i, s in sorted(songs.items()) if "static" in s and i <= 2000]
        late = [(i, s["static"]) for i, s in sorted(songs.items()) if "static" in s and i > 2000]
        if early:
            rows = [",".join([str(i), *map(_fmt, v)]) for i, v in early]
            _write(
                static_dir / "static_annotations_averaged_songs_1_2000.csv", [STATIC_HEADER, *rows]
            )
        if late:
            rows = []
            for i, (vm, vs, am, a_s) in late:
                extremes = [min(vm + 1, 9), 0.5, max(vm - 1, 1), 0.5]
                values = [vm, vs, *extremes, am, a_s, min(am + 1, 9), 0.5, max(am - 1, 1), 0.5]
                rows.append(",".join([str(i), *map(_fmt, values)]))
            _write(
                static_dir / "static_annotations_averaged_songs_2000_2058.csv",
                [STATIC_2015_HEADER, *rows],
            )
        for dimension in ("valence", "arousal"):
            curves = {i: s[dimension] for i, s in sorted(songs.items()) if dimension in s}
            if not curves:
                continue
            width = max(len(c) for c in curves.values())
            header = ["song_id", *(f"sample_{15000 + 500 * k}ms" for k in range(width))]
            rows = [
                ",".join([str(i), *map(_fmt, c), *[""] * (width - len(c))])
                for i, c in curves.items()
            ]
            _write(dynamic_dir / f"{dimension}.csv", [",".join(header), *rows])
        audio_dir.mkdir(parents=True, exist_ok=True)
        for song_id, spec in songs.items():
            audio = spec.get("audio")
            if audio == "corrupt":
                (audio_dir / f"{song_id}.mp3").write_bytes(b"\xff\xfb not an mp3 " * 20)
            elif audio is not None:
                shutil.copyfile(mp3(audio), audio_dir / f"{song_id}.mp3")
        return root

    return write


@pytest.fixture
def agreeing_songs():
    """songs_like(ids, seed, swap=False, invert=False): static and dynamic labels that agree
    (r ~ 0.95), or with static valence/arousal swapped, or the dynamic valence inverted."""

    def make(ids, seed=0, swap=False, invert=False, audio=6.0, frames=60):
        rng = np.random.default_rng(seed)
        songs = {}
        for song_id in ids:
            v, a = rng.uniform(-0.7, 0.7, size=2)
            static_v, static_a = (a, v) if swap else (v, a)
            noise = rng.normal(0, 0.05, size=(2, frames))
            songs[song_id] = {
                "static": (5 + 4 * static_v, 1.2, 5 + 4 * static_a, 1.1),
                "valence": np.clip((-v if invert else v) + noise[0], -1, 1).tolist(),
                "arousal": np.clip(a + noise[1], -1, 1).tolist(),
                "audio": audio,
            }
        return songs

    return make


# ---------------------------------------------------------------------------- generated sets

FOURQ_SECONDS = 8.0  # 4Q clips: longer than one window, short enough to stay fast
DEAM_SECONDS = 16.0  # the shortest generated DEAM excerpt with dynamic labels


@pytest.fixture(scope="session")
def fourq_faulty(tmp_path_factory) -> Path:
    """A generated 4Q folder of 16 clips with one of each planted fault."""
    from emotrack.offline.synthetic_4q import FourQFaults, generate_fourq

    faults = FourQFaults(missing_audio=1, bad_rows=1, unknown_quadrant=1, corrupt_audio=1)
    return generate_fourq(
        tmp_path_factory.mktemp("fourq-faulty"),
        n_clips=16,
        seed=1,
        clip_seconds=FOURQ_SECONDS,
        faults=faults,
        progress=False,
    )


@pytest.fixture(scope="session")
def mixed_pool(tmp_path_factory):
    """(clips by key, MelCache) of a tiny generated DEAM (6 songs) and 4Q (8 clips), cached
    for the small CNN with two windows per clip, as `emotrack-train --dataset deam 4q` does."""
    from emotrack.models.audio import CNN_MEL
    from emotrack.offline.cache import Windowing, build_cache
    from emotrack.offline.data import load_clips
    from emotrack.offline.synthetic import generate_deam
    from emotrack.offline.synthetic_4q import generate_fourq

    root = tmp_path_factory.mktemp("mixed")
    deam = generate_deam(
        root / "deam", n_songs=6, seed=2, clip_seconds=DEAM_SECONDS, progress=False
    )
    fourq = generate_fourq(
        root / "4q", n_clips=8, seed=2, clip_seconds=FOURQ_SECONDS, progress=False
    )
    clips = load_clips("deam", deam, "both", False)[0] + load_clips("4q", fourq, "both", False)[0]
    cache = build_cache(clips, CNN_MEL, Windowing(count=2), root / "cache", progress=False)
    assert not cache.problems and len(cache.keys) == 14
    return {clip.key: clip for clip in clips}, cache


# ---------------------------------------------------------------------------- scored parts

EVAL_WINDOWS, EVAL_BANDS, EVAL_FRAMES = 4, 8, 12
# a 4Q part scored by hand in test_evaluate: (clip number, true quadrant, pooled prediction);
# each clip's windows spread around its pooled value, into other quadrants
FOURQ_PART = [
    (1, 1, (6.5, 7.0)),
    (2, 1, (3.0, 6.0)),  # called Q2
    (3, 2, (3.5, 6.5)),
    (4, 2, (4.0, 7.5)),
    (5, 3, (2.5, 3.0)),
    (6, 3, (6.0, 2.0)),  # called Q4
    (7, 4, (7.0, 3.5)),
    (8, 4, (6.5, 6.0)),  # called Q1
    (9, 4, (8.0, 2.5)),
]
FOURQ_SPREAD = np.array([[2.0, -2.0], [-2.0, 2.0], [0.0, 0.0]])  # window offsets, mean zero


def _eval_deam(song_id: int, valence: float, arousal: float):
    from emotrack.offline.clips import from_deam
    from emotrack.offline.deam_records import Song

    return from_deam(Song(song_id, 2013, valence_mean=valence, arousal_mean=arousal))


def _eval_fourq(number: int, quadrant: int):
    from emotrack.offline.clips import from_fourq
    from emotrack.offline.fourq import FourQClip

    return from_fourq(FourQClip(f"MT{number:010d}", quadrant, artist=f"artist {number}"))


def _eval_loader(rng, clips):
    """load(key): cached-window stand-ins whose first bands carry each clip's label (so the
    baselines have something to find); each clip's windows are drawn once."""
    windows = {}
    for clip in clips.values():
        x = rng.normal(size=(EVAL_WINDOWS, EVAL_BANDS, EVAL_FRAMES)).astype(np.float32)
        if clip.has_static:
            x[:, 0] += clip.static[0]
            x[:, 1] += clip.static[1]
        if clip.has_quadrant:
            x[:, 2 + clip.quadrant] += 3.0
        windows[clip.key] = x
    return windows.__getitem__


@pytest.fixture(scope="session")
def labelled():
    """Helpers: deam(id, v, a) and fourq(number, quadrant) clips, loader(rng, clips)."""
    return SimpleNamespace(
        deam=_eval_deam, fourq=_eval_fourq, loader=_eval_loader, windows=EVAL_WINDOWS
    )


@pytest.fixture(scope="session")
def deam_evaluation():
    """evaluate_clips of 30 DEAM test clips (4 windows each) with the mean and ridge baselines
    fitted on 40 train and 20 val clips, and per-window dynamic targets."""
    from emotrack.offline.evaluate import BaselineFit, evaluate_clips

    rng = np.random.default_rng(0)
    clips = {c.key: c for c in (_eval_deam(i, *rng.uniform(2, 8, size=2)) for i in range(1, 91))}
    keys = list(clips)
    train, val, test = keys[:40], keys[40:60], keys[60:]
    window_keys = np.repeat(test, EVAL_WINDOWS)
    static = np.array([clips[k].static for k in window_keys])
    preds = static + rng.normal(scale=0.5, size=static.shape)
    dynamic = (static - 5) / 4 + rng.normal(scale=0.05, size=static.shape)
    dynamic[::3, 0] = np.nan
    fit = BaselineFit.from_cache(_eval_loader(rng, clips), train, val, test[::-1])
    result = evaluate_clips(window_keys, preds, clips, dynamic, fit)
    return SimpleNamespace(
        clips=clips, test=test, window_keys=window_keys, preds=preds, result=result
    )


@pytest.fixture(scope="session")
def fourq_evaluation():
    """evaluate_clips (split "val") of the :data:`FOURQ_PART` windows, with the majority and
    logistic baselines fitted on 36 train clips (Q4 most frequent) and 8 val clips."""
    from emotrack.offline.evaluate import BaselineFit, evaluate_clips

    rng = np.random.default_rng(1)
    train = [_eval_fourq(100 + i, q) for i, q in enumerate([1, 1, 2, 2, 3, 3, 4, 4, 4] * 4)]
    val = [_eval_fourq(200 + i, q) for i, q in enumerate([1, 2, 3, 4] * 2)]
    test = [_eval_fourq(number, q) for number, q, _ in FOURQ_PART]
    clips = {c.key: c for c in train + val + test}
    fit = BaselineFit.from_cache(
        _eval_loader(rng, clips),
        [c.key for c in train],
        [c.key for c in val],
        [c.key for c in test],
    )
    keys, values = [], []
    for number, _, pooled in FOURQ_PART:
        keys += [f"4q-MT{number:010d}"] * len(FOURQ_SPREAD)
        values += list(np.array(pooled) + FOURQ_SPREAD)
    result = evaluate_clips(np.array(keys), np.array(values), clips, baselines=fit, split="val")
    return SimpleNamespace(clips=clips, part=FOURQ_PART, result=result)
