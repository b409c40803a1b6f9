"""DEAM's songs as records: ids and the year each was annotated, the label scales, one
:class:`Song` per id (static means and stds, dynamic curves, its audio) and a loaded copy
(:class:`Deam`). Reading them from disk is ``offline.deam``'s."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotrack.models.audio import WINDOW_SECONDS
from emotrack.models.errors import UserError
from emotrack.offline.datafiles import Problem

FIRST_ID, LAST_ID = 1, 2058
YEAR_LAST_IDS = ((1000, 2013), (2000, 2014), (LAST_ID, 2015))  # (last id, year annotated)
STATIC_RANGE = (1.0, 9.0)  # SAM scale of the song-level means
STD_RANGE = (0.0, 4.0)  # the largest possible spread on 1..9
DYNAMIC_RANGE = (-1.0, 1.0)
LABEL_KINDS = ("static", "dynamic", "both")
DIMENSIONS = ("valence", "arousal")


def year_of(song_id: int) -> int:
    """Year the song was annotated: 2013 (ids <= 1000), 2014 (1001..2000), 2015 (2001..2058)."""
    for last, year in YEAR_LAST_IDS:
        if FIRST_ID <= song_id <= last:
            return year
    raise ValueError(f"song id {song_id} is outside DEAM's {FIRST_ID}..{LAST_ID}")


@dataclass
class Curve:
    """Dynamic labels of one song: times in seconds, values in -1..1 (missing cells dropped)."""

    times: np.ndarray
    values: np.ndarray


@dataclass
class Song:
    """Everything known about one song. Means and stds are on DEAM's 1..9 scale."""

    song_id: int
    year: int
    audio_path: Path | None = None
    duration: float | None = None  # seconds, from the audio header
    valence_mean: float | None = None
    valence_std: float | None = None
    arousal_mean: float | None = None
    arousal_std: float | None = None
    valence_curve: Curve | None = None
    arousal_curve: Curve | None = None

    @property
    def has_static(self) -> bool:
        return self.valence_mean is not None and self.arousal_mean is not None

    @property
    def has_dynamic(self) -> bool:
        return self.valence_curve is not None and self.arousal_curve is not None

    @property
    def has_audio(self) -> bool:
        """Readable audio at least one model window long."""
        return self.duration is not None and self.duration >= WINDOW_SECONDS


@dataclass
class DeamFiles:
    """What a walk of a DEAM folder found."""

    root: Path
    static: list[Path] = field(default_factory=list)
    valence: Path | None = None
    arousal: Path | None = None
    audio: dict[int, Path] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Deam:
    """A loaded DEAM copy: songs by id, and every problem met while loading."""

    root: Path
    songs: dict[int, Song]
    problems: list[Problem]
    files: DeamFiles | None = None

    def labelled(self, kind: str = "static") -> list[Song]:
        """Songs (by id) with ``kind`` labels (static, dynamic or both) and usable audio."""
        if kind not in LABEL_KINDS:
            raise UserError(f"labels must be one of {', '.join(LABEL_KINDS)}, not {kind!r}")
        static, dynamic = kind in ("static", "both"), kind in ("dynamic", "both")
        return [
            song
            for _, song in sorted(self.songs.items())
            if song.has_audio
            and (song.has_static or not static)
            and (song.has_dynamic or not dynamic)
        ]
