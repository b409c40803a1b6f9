"""Train/validation/test splits of DEAM songs, and the label scale computed on train+val."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from emotrack.models.emotion import LabelScale, nine_to_unit
from emotrack.models.errors import UserError
from emotrack.offline.deam import DIMENSIONS, LABEL_KINDS, Song

log = logging.getLogger(__name__)

PARTS = ("train", "val", "test")
MUSIC2EMO_FILES = {"train": "train.txt", "val": "validation.txt", "test": "test.txt"}
MIN_STD = 1e-3  # floor for the label std, so a constant label still gives finite z-scores


@dataclass
class Split:
    """Song ids per part, each sorted. ``absent``: ids a fixed split names that are not here."""

    train: list[int]
    val: list[int]
    test: list[int]
    absent: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"train": self.train, "val": self.val, "test": self.test, "absent": self.absent}

    @classmethod
    def from_dict(cls, data: Mapping) -> Split:
        """Read back :meth:`to_dict`; UserError if parts are missing, not ids, or overlap."""
        missing = [part for part in PARTS if part not in data]
        if missing:
            raise UserError(f"split: no {', '.join(missing)} part; a split names train, val, test")
        parts = {}
        for part in (*PARTS, "absent"):
            values = data.get(part, [])
            if not isinstance(values, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in values
            ):
                raise UserError(f"split: {part} must be a list of song ids")
            parts[part] = sorted(values)
        seen: set[int] = set()
        for part in PARTS:
            overlap = seen & set(parts[part])
            if overlap:
                raise UserError(f"split: songs {sorted(overlap)[:5]} are in more than one part")
            seen |= set(parts[part])
        return cls(**parts)


def stratified_split(
    songs: Iterable[Song], seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.15
) -> Split:
    """Random split keeping each year's share in every part. Same seed and same songs give the
    same ids, whatever order the songs come in."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise UserError(
            f"validation ({val_fraction}) and test ({test_fraction}) fractions must be >= 0 "
            "and add up to less than 1"
        )
    by_year: dict[int, set[int]] = {}
    for song in songs:
        by_year.setdefault(song.year, set()).add(song.song_id)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {part: [] for part in PARTS}
    for year in sorted(by_year):
        ids = rng.permutation(sorted(by_year[year])).tolist()
        n_test = round(len(ids) * test_fraction)
        n_val = round(len(ids) * val_fraction)
        parts["test"] += ids[:n_test]
        parts["val"] += ids[n_test : n_test + n_val]
        parts["train"] += ids[n_test + n_val :]
    return Split(*(sorted(parts[part]) for part in PARTS))


def music2emo_ids() -> dict[str, list[int]]:
    """The Music2Emo song ids (Kang and Herremans, 2025) per part, as shipped."""
    folder = resources.files("emotrack.offline") / "splits" / "music2emo"
    return {
        part: [int(line) for line in (folder / name).read_text().split()]
        for part, name in MUSIC2EMO_FILES.items()
    }


def music2emo_split(songs: Iterable[Song]) -> Split:
    """The Music2Emo split, limited to the songs given; listed ids not given are reported."""
    present = {song.song_id for song in songs}
    lists = music2emo_ids()
    parts = {part: sorted(set(ids) & present) for part, ids in lists.items()}
    absent = sorted(set().union(*lists.values()) - present)
    if not parts["train"] or not parts["test"]:
        raise UserError(
            f"only {len(parts['train'])} train and {len(parts['test'])} test songs of the "
            "music2emo split are in this data; use the stratified split instead"
        )
    if absent:
        log.warning(
            "%d songs of the music2emo split are not in this data (e.g. %s); the split uses "
            "the %d that are",
            len(absent),
            ", ".join(map(str, absent[:5])),
            sum(map(len, parts.values())),
        )
    return Split(parts["train"], parts["val"], parts["test"], absent)


def label_scale(
    songs: Mapping[int, Song] | Iterable[Song], ids: Iterable[int], labels: str
) -> LabelScale:
    """Mean and std of (valence, arousal) on the -1..1 scale over the songs ``ids`` (pass
    train+val). Static means are mapped from 1..9; dynamic uses every curve value; both pools
    the two."""
    if labels not in LABEL_KINDS:
        raise UserError(f"labels must be one of {', '.join(LABEL_KINDS)}, not {labels!r}")
    by_id = songs if isinstance(songs, Mapping) else {song.song_id: song for song in songs}
    ids = list(dict.fromkeys(ids))
    unknown = [song_id for song_id in ids if song_id not in by_id]
    if unknown:
        raise ValueError(f"label_scale: songs {unknown[:5]} are not among the songs given")
    pooled: dict[str, list[np.ndarray]] = {dimension: [] for dimension in DIMENSIONS}
    for song_id in ids:
        song = by_id[song_id]
        for dimension in DIMENSIONS:
            mean = getattr(song, f"{dimension}_mean")
            curve = getattr(song, f"{dimension}_curve")
            if labels in ("static", "both") and mean is not None:
                pooled[dimension].append(np.array([nine_to_unit(mean)]))
            if labels in ("dynamic", "both") and curve is not None:
                pooled[dimension].append(curve.values)
    stats = []
    for dimension in DIMENSIONS:
        if not pooled[dimension]:
            raise UserError(f"no {labels} {dimension} labels among the songs to scale by")
        values = np.concatenate(pooled[dimension]).astype(np.float64)
        stats.append((float(values.mean()), max(float(values.std()), MIN_STD)))
    return LabelScale(mean=(stats[0][0], stats[1][0]), std=(stats[0][1], stats[1][1]))
