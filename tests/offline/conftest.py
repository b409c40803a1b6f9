"""Fixtures for tests/offline: tiny real MP3s and DEAM folders written the way DEAM ships."""

from __future__ import annotations

import shutil
from pathlib import Path

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
