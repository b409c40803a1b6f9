"""One record for a labelled excerpt of any dataset, as training, splits and evaluation see it.

DEAM songs carry continuous labels (static 1..9 means, dynamic 2 Hz curves); 4Q clips carry one
Russell quadrant (and PQuad, the share of their mood tags that agree with it). A :class:`Clip`
holds whichever a dataset gives, so one run can mix datasets: each window contributes the losses
its labels allow. ``key`` is unique across datasets (``deam-12``, ``4q-MT0000040632``) and names
the clip's cache entry; ``group`` is what a split never puts on two sides (4Q's artist, a DEAM
song itself) and ``stratum`` what it keeps in proportion (4Q's quadrant, DEAM's year).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from emotrack.offline.deam_records import Curve, Song
from emotrack.offline.fourq import FourQClip, quadrant_of

DATASETS = ("deam", "4q")


@dataclass(frozen=True, eq=False)
class Clip:
    """A labelled excerpt; see the module docstring for what each field means."""

    key: str
    dataset: str
    audio_path: Path
    group: str
    stratum: str
    static: tuple[float, float] | None = None  # (valence, arousal) means on 1..9
    curves: tuple[Curve | None, Curve | None] | None = None  # (valence, arousal) on -1..1
    quadrant: int | None = None  # 1..4, the label itself (4Q)
    confidence: float | None = None  # 0..1: how sure the label is (4Q's PQuad)

    @property
    def has_quadrant(self) -> bool:
        return self.quadrant is not None

    @property
    def has_static(self) -> bool:
        return self.static is not None

    @property
    def has_dynamic(self) -> bool:
        return self.curves is not None and all(c is not None for c in self.curves)

    @property
    def true_quadrant(self) -> int | None:
        """The quadrant a clip is judged by: its label, else that of its static means (5 counts
        as high, as everywhere on the 1..9 plane)."""
        if self.quadrant is not None:
            return self.quadrant
        if self.static is None:
            return None
        return quadrant_of(self.static[0] >= 5.0, self.static[1] >= 5.0)


def deam_key(song_id: int) -> str:
    return f"deam-{song_id}"


def from_deam(song: Song) -> Clip:
    """A DEAM song (with audio) as a clip; each song is its own split group."""
    static = (song.valence_mean, song.arousal_mean) if song.has_static else None
    curves = (
        (song.valence_curve, song.arousal_curve)
        if song.valence_curve is not None or song.arousal_curve is not None
        else None
    )
    key = deam_key(song.song_id)
    return Clip(key, "deam", song.audio_path, key, str(song.year), static, curves)


def from_fourq(clip: FourQClip) -> Clip:
    """A 4Q clip; its artist (normalised) is its split group, its quadrant its stratum. A clip
    without an artist is a group of its own."""
    key = f"4q-{clip.song}"
    group = f"artist:{_normalise(clip.artist)}" if clip.artist else key
    return Clip(
        key,
        "4q",
        clip.audio_path,
        group,
        f"Q{clip.quadrant}",
        quadrant=clip.quadrant,
        confidence=clip.confidence,
    )


def _normalise(name: str) -> str:
    """Artist names as one group however they are spelled: case, spaces, punctuation."""
    return re.sub(r"[\W_]+", " ", name.casefold()).strip()
