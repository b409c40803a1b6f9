"""Splits that don't leak, cross-validation folds, and the label scale computed on train+val.

Every split is by group (a 4Q artist, a DEAM song): a group is never on two sides, so a model
is always judged on artists it has not heard. Within that rule each part keeps every stratum's
share (4Q quadrants, DEAM years). Splits are seeded and do not depend on the order clips come in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from emotrack.models.emotion import PROBABILITY_SCALE, LabelScale, nine_to_unit
from emotrack.models.errors import UserError
from emotrack.offline.clips import Clip, deam_key

log = logging.getLogger(__name__)

PARTS = ("train", "val", "test")
MUSIC2EMO_FILES = {"train": "train.txt", "val": "validation.txt", "test": "test.txt"}
MIN_STD = 1e-3  # floor for the label std, so a constant label still gives finite z-scores
LABEL_KINDS = ("static", "dynamic", "both")
CV_VAL_FRACTION = 0.1  # of the clips outside a fold's test part


@dataclass
class Split:
    """Clip keys per part, each sorted. ``absent``: keys a fixed split names that are not here."""

    train: list[str]
    val: list[str]
    test: list[str]
    absent: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"train": self.train, "val": self.val, "test": self.test, "absent": self.absent}

    @classmethod
    def from_dict(cls, data: Mapping) -> Split:
        """Read back :meth:`to_dict`; UserError if parts are missing, not keys, or overlap."""
        missing = [part for part in PARTS if part not in data]
        if missing:
            raise UserError(f"split: no {', '.join(missing)} part; a split names train, val, test")
        parts = {}
        for part in (*PARTS, "absent"):
            values = data.get(part, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise UserError(f"split: {part} must be a list of clip keys")
            parts[part] = sorted(values)
        seen: set[str] = set()
        for part in PARTS:
            overlap = seen & set(parts[part])
            if overlap:
                raise UserError(f"split: clips {sorted(overlap)[:5]} are in more than one part")
            seen |= set(parts[part])
        return cls(**parts)


def assign_groups(clips: Iterable[Clip], shares: list[float], seed: int) -> list[list[str]]:
    """Keys per part: whole groups go to parts so that each part holds about ``shares[p]`` of
    every stratum. Groups are taken largest first (ties in seeded random order) and each goes
    to the part that lacks most of what the group brings (on a tie, the first such part). With
    hardly more groups than parts a part can end up empty; a split then says so."""
    by_group: dict[str, list[Clip]] = {}
    for clip in clips:
        by_group.setdefault(clip.group, []).append(clip)
    strata = sorted({clip.stratum for members in by_group.values() for clip in members})
    column = {stratum: i for i, stratum in enumerate(strata)}
    names = sorted(by_group)
    rng = np.random.default_rng(seed)
    names = [names[i] for i in rng.permutation(len(names))]
    names.sort(key=lambda name: -len(by_group[name]))  # stable: shuffled among equal sizes
    share = np.asarray(shares, dtype=np.float64)
    totals = np.zeros(len(strata))
    for members in by_group.values():
        for clip in members:
            totals[column[clip.stratum]] += 1
    target = share[:, None] * totals[None, :]
    counts = np.zeros_like(target)
    parts: list[list[str]] = [[] for _ in shares]
    for name in names:
        brings = np.zeros(len(strata))
        for clip in by_group[name]:
            brings[column[clip.stratum]] += 1
        cost = (counts - target) @ brings  # how far each part already is past its target
        cost[share == 0] = np.inf
        part = int(np.argmin(cost))
        counts[part] += brings
        parts[part] += [clip.key for clip in by_group[name]]
    return [sorted(keys) for keys in parts]


def grouped_split(
    clips: Iterable[Clip], seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.15
) -> Split:
    """A seeded train/val/test split by group, keeping each stratum's share in every part."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise UserError(
            f"validation ({val_fraction}) and test ({test_fraction}) fractions must be >= 0 "
            "and add up to less than 1"
        )
    shares = [1.0 - val_fraction - test_fraction, val_fraction, test_fraction]
    train, val, test = assign_groups(clips, shares, seed)
    return Split(train, val, test)


def cross_validation(
    clips: Iterable[Clip], folds: int, seed: int = 0, val_fraction: float = CV_VAL_FRACTION
) -> list[Split]:
    """``folds`` splits by group: fold ``i`` tests on part ``i`` and validates (early
    stopping, model selection) on ``val_fraction`` of the other groups, stratified alike; it
    trains on the rest. Every clip is tested once and no group is ever on two sides."""
    if folds < 3:
        raise UserError(f"--folds {folds}: cross-validation needs at least 3 folds")
    clips = list(clips)
    groups = len({clip.group for clip in clips})
    if groups < folds + 1:
        raise UserError(
            f"--folds {folds}: only {groups} groups (artists) to share out; use fewer folds"
        )
    parts = assign_groups(clips, [1.0 / folds] * folds, seed)
    splits = []
    for i, test in enumerate(parts):
        held = set(test)
        rest = [clip for clip in clips if clip.key not in held]
        train, val = assign_groups(rest, [1.0 - val_fraction, val_fraction], seed + 1 + i)
        if not val:  # too few groups for the share: one whole group validates
            first = min(rest, key=lambda clip: clip.group).group
            val = sorted(c.key for c in rest if c.group == first)
            train = sorted(c.key for c in rest if c.group != first)
        splits.append(Split(train, val, test))
    return splits


def music2emo_ids() -> dict[str, list[int]]:
    """The Music2Emo song ids (Kang and Herremans, 2025) per part, as shipped."""
    folder = resources.files("emotrack.offline") / "splits" / "music2emo"
    return {
        part: [int(line) for line in (folder / name).read_text().split()]
        for part, name in MUSIC2EMO_FILES.items()
    }


def music2emo_split(clips: Iterable[Clip]) -> Split:
    """The Music2Emo split, limited to the DEAM clips given; listed songs not given are
    reported. Clips of other datasets are left out of it."""
    present = {clip.key for clip in clips}
    lists = {part: {deam_key(i) for i in ids} for part, ids in music2emo_ids().items()}
    parts = {part: sorted(keys & present) for part, keys in lists.items()}
    absent = sorted(set().union(*lists.values()) - present)
    if not parts["train"] or not parts["test"]:
        raise UserError(
            f"only {len(parts['train'])} train and {len(parts['test'])} test songs of the "
            "music2emo split are in this data; use --split random instead"
        )
    if absent:
        log.warning(
            "%d songs of the music2emo split are not in this data (e.g. %s); the split uses "
            "the %d that are",
            len(absent),
            ", ".join(absent[:5]),
            sum(map(len, parts.values())),
        )
    return Split(parts["train"], parts["val"], parts["test"], absent)


def label_scale(clips: Mapping[str, Clip] | Iterable[Clip], keys: Iterable[str], labels: str):
    """The run's :class:`LabelScale` from the clips ``keys`` (pass train+val): mean and std of
    (valence, arousal) on -1..1 over their static means (``labels`` static), curve values
    (dynamic) or both. Clips with only a quadrant give no statistics; when no clip has
    continuous labels the model is a quadrant model, on the probability scale."""
    if labels not in LABEL_KINDS:
        raise UserError(f"labels must be one of {', '.join(LABEL_KINDS)}, not {labels!r}")
    by_key = clips if isinstance(clips, Mapping) else {clip.key: clip for clip in clips}
    keys = list(dict.fromkeys(keys))
    unknown = [key for key in keys if key not in by_key]
    if unknown:
        raise ValueError(f"label_scale: clips {unknown[:5]} are not among the clips given")
    chosen = [by_key[key] for key in keys]
    if not any(clip.has_static or clip.curves for clip in chosen):
        return LabelScale(output_scale=PROBABILITY_SCALE)
    pooled: list[list[np.ndarray]] = [[], []]
    for clip in chosen:
        for d in range(2):
            if labels in ("static", "both") and clip.static is not None:
                pooled[d].append(np.array([nine_to_unit(clip.static[d])]))
            curve = clip.curves[d] if clip.curves else None
            if labels in ("dynamic", "both") and curve is not None:
                pooled[d].append(curve.values)
    stats = []
    for d, dimension in enumerate(("valence", "arousal")):
        if not pooled[d]:
            raise UserError(f"no {labels} {dimension} labels among the clips to scale by")
        values = np.concatenate(pooled[d]).astype(np.float64)
        stats.append((float(values.mean()), max(float(values.std()), MIN_STD)))
    return LabelScale(mean=(stats[0][0], stats[1][0]), std=(stats[0][1], stats[1][1]))
