"""Splits (seeded, by group, stratified, cross-validation folds, Music2Emo) and the label scale."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest

from emotrack.models.emotion import DEAM_SCALE, PROBABILITY_SCALE, LabelScale
from emotrack.models.errors import UserError
from emotrack.offline.clips import deam_key, from_deam, from_fourq
from emotrack.offline.data import check_split
from emotrack.offline.deam_records import Curve, Song, year_of
from emotrack.offline.fourq import FourQClip
from emotrack.offline.splits import (
    Split,
    assign_groups,
    cross_validation,
    grouped_split,
    label_scale,
    music2emo_ids,
    music2emo_split,
)


def song(song_id, valence=None, arousal=None, valence_curve=None, arousal_curve=None):
    """A DEAM song as a clip."""
    curves = [
        None if c is None else Curve(15.0 + 0.5 * np.arange(len(c)), np.asarray(c, float))
        for c in (valence_curve, arousal_curve)
    ]
    return from_deam(
        Song(
            song_id,
            year_of(song_id),
            valence_mean=valence,
            arousal_mean=arousal,
            valence_curve=curves[0],
            arousal_curve=curves[1],
        )
    )


DEAM_LIKE = [song(i) for i in [*range(2, 746), *range(1001, 2001), *range(2001, 2059)]]


def fourq_like(n_artists: int = 60, seed: int = 0) -> list:
    """4Q clips by artists of 1 to 4 clips each; an artist's clips mostly share a quadrant
    (as in 4Q) and some are spelled differently in the metadata."""
    rng = np.random.default_rng(seed)
    clips, number = [], 0
    for a in range(n_artists):
        home = int(rng.integers(1, 5))
        for k in range(int(rng.integers(1, 5))):
            quadrant = home if rng.random() < 0.8 else int(rng.integers(1, 5))
            name = f"Artist {a}"
            artist = name.upper() if k == 1 else f"{name}." if k == 2 else name
            clips.append(from_fourq(FourQClip(f"MT{number:010d}", quadrant, artist=artist)))
            number += 1
    return clips


def _groups(clips, keys) -> set[str]:
    by_key = {c.key: c for c in clips}
    return {by_key[k].group for k in keys}


def test_grouped_split_is_seeded_and_ignores_input_order():
    first = grouped_split(DEAM_LIKE, seed=3)
    shuffled = DEAM_LIKE[:]
    random.Random(0).shuffle(shuffled)
    assert grouped_split(shuffled, seed=3) == first
    assert grouped_split(DEAM_LIKE, seed=4) != first
    every = first.train + first.val + first.test
    assert sorted(every) == sorted(c.key for c in DEAM_LIKE)  # a partition
    assert len(set(every)) == len(every)
    assert all(part == sorted(part) for part in (first.train, first.val, first.test))
    assert all(isinstance(key, str) and key.startswith("deam-") for key in every)


def test_grouped_split_keeps_each_years_share():
    split = grouped_split(DEAM_LIKE, seed=0, val_fraction=0.15, test_fraction=0.2)
    year = {c.key: int(c.stratum) for c in DEAM_LIKE}
    for y, size in {2013: 744, 2014: 1000, 2015: 58}.items():
        test = [k for k in split.test if year[k] == y]
        val = [k for k in split.val if year[k] == y]
        assert abs(len(test) - size * 0.2) <= 1
        assert abs(len(val) - size * 0.15) <= 1


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.5, 0.5), (0.2, 1.0)])
def test_grouped_split_refuses_impossible_fractions(val, test):
    with pytest.raises(UserError, match="fractions"):
        grouped_split(DEAM_LIKE, val_fraction=val, test_fraction=test)


def test_grouped_split_never_puts_an_artist_on_two_sides():
    clips = fourq_like()
    split = grouped_split(clips, seed=1)
    parts = [_groups(clips, getattr(split, p)) for p in ("train", "val", "test")]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert len(split.test) == pytest.approx(0.15 * len(clips), abs=4)


def test_a_set_too_small_for_its_parts_is_refused_with_the_fix():
    """Twelve clips of twelve artists: a part's share of a quadrant is under one clip, ties go
    to the first part short of it, and the test part stays empty; training refuses such a
    split, saying what to do, instead of running on it."""
    clips = [from_fourq(FourQClip(f"MT{i:010d}", i % 4 + 1, artist=f"a{i}")) for i in range(12)]
    split = grouped_split(clips, seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (8, 4, 0)
    with pytest.raises(UserError, match="test split is empty.*use more clips"):
        check_split(split, "random", len(clips))


def test_assign_groups_shares_every_stratum_by_whole_groups():
    clips = fourq_like(80, seed=2)
    parts = assign_groups(clips, [0.5, 0.25, 0.25], seed=0)
    quadrant = {c.key: c.quadrant for c in clips}
    total = Counter(c.quadrant for c in clips)
    for part, share in zip(parts, (0.5, 0.25, 0.25), strict=True):
        counts = Counter(quadrant[k] for k in part)
        for q in range(1, 5):
            assert abs(counts[q] - share * total[q]) <= 4  # at most about one artist off
    assert assign_groups(clips, [1.0, 0.0], seed=0)[1] == []  # a zero share gets nothing


def test_cross_validation_folds_are_artist_disjoint_and_test_every_clip_once():
    clips = fourq_like()
    folds = cross_validation(clips, folds=5, seed=0)
    assert len(folds) == 5
    tested = Counter(k for fold in folds for k in fold.test)
    assert set(tested) == {c.key for c in clips} and set(tested.values()) == {1}
    quadrant = {c.key: c.quadrant for c in clips}
    total = Counter(quadrant.values())
    for fold in folds:
        parts = [set(fold.train), set(fold.val), set(fold.test)]
        assert set().union(*parts) == {c.key for c in clips}
        assert sum(map(len, parts)) == len(clips)  # disjoint
        groups = [_groups(clips, part) for part in parts]
        for i in range(3):
            for j in range(i + 1, 3):
                assert not groups[i] & groups[j], "an artist on two sides of a fold"
        assert fold.val, "every fold validates on some artists"
        shares = Counter(quadrant[k] for k in fold.test)
        for q in range(1, 5):  # each quadrant's share in every test part, within an artist
            assert abs(shares[q] - total[q] / 5) <= 4
    # the spellings of one artist stay together
    by_artist = {}
    for c in clips:
        by_artist.setdefault(c.group, set()).add(
            next(i for i, f in enumerate(folds) if c.key in f.test)
        )
    assert all(len(folds_of) == 1 for folds_of in by_artist.values())
    assert max(Counter(c.group for c in clips).values()) >= 3  # variants were merged


def test_cross_validation_is_seeded_and_ignores_input_order():
    clips = fourq_like(40, seed=3)
    first = cross_validation(clips, folds=4, seed=7)
    shuffled = clips[:]
    random.Random(1).shuffle(shuffled)
    assert cross_validation(shuffled, folds=4, seed=7) == first
    assert cross_validation(clips, folds=4, seed=8) != first


def test_cross_validation_refuses_too_few_folds_or_artists():
    clips = fourq_like(5, seed=4)
    with pytest.raises(UserError, match="at least 3 folds"):
        cross_validation(clips, folds=2)
    with pytest.raises(UserError, match="only 5 groups"):
        cross_validation(clips, folds=5)
    assert len(cross_validation(clips, folds=4)) == 4


def test_music2emo_lists_ship_with_the_package():
    ids = music2emo_ids()
    assert {part: len(v) for part, v in ids.items()} == {"train": 1261, "val": 271, "test": 270}
    assert len(set().union(*ids.values())) == 1802


def test_music2emo_split_uses_the_songs_present_and_reports_the_rest(caplog):
    ids = music2emo_ids()
    everything = sorted(set().union(*ids.values()))
    full = music2emo_split([song(i) for i in everything])
    assert (full.train, full.val, full.test) == tuple(
        sorted(deam_key(i) for i in ids[p]) for p in ("train", "val", "test")
    )
    assert full.absent == []

    gone = {ids["train"][0], ids["val"][0], ids["test"][0]}
    fourq = [from_fourq(FourQClip("MT0000000001", 1, artist="x"))]  # other datasets: left out
    part = music2emo_split([song(i) for i in everything if i not in gone] + fourq)
    assert part.absent == sorted(deam_key(i) for i in gone)
    assert len(part.train) == 1260 and len(part.val) == 270 and len(part.test) == 269
    assert not {deam_key(i) for i in gone} & set(part.train + part.val + part.test)
    assert "4q-MT0000000001" not in part.train + part.val + part.test
    assert "3 songs of the music2emo split are not in this data" in caplog.text


def test_music2emo_split_refuses_data_without_its_songs():
    listed = set().union(*music2emo_ids().values())
    outside = [i for i in range(2, 2059) if i not in listed]
    with pytest.raises(UserError, match="use --split random"):
        music2emo_split([song(i) for i in outside[:20]])


def test_split_round_trips_through_json():
    split = grouped_split(DEAM_LIKE[:100], seed=1)
    assert Split.from_dict(json.loads(json.dumps(split.to_dict()))) == split
    folds = cross_validation(fourq_like(20), folds=3)
    assert [Split.from_dict(json.loads(json.dumps(f.to_dict()))) for f in folds] == folds


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"train": ["deam-1"], "val": ["deam-2"]}, "no test"),
        ({"train": ["deam-1", "deam-2"], "val": ["deam-2"], "test": []}, "more than one part"),
        ({"train": [1], "val": [], "test": []}, "list of clip keys"),
        ({"train": "deam-1", "val": [], "test": []}, "list of clip keys"),
    ],
)
def test_split_from_dict_refuses_bad_splits(data, words):
    with pytest.raises(UserError, match=words):
        Split.from_dict(data)


def test_label_scale_static_uses_only_the_given_keys_on_the_unit_scale():
    clips = {
        c.key: c
        for c in (
            song(1, valence=3.0, arousal=7.0),
            song(2, valence=7.0, arousal=9.0),
            song(3, valence=9.0, arousal=1.0),  # a test song: must not count
        )
    }
    scale = label_scale(clips, ["deam-1", "deam-2"], "static")
    assert isinstance(scale, LabelScale) and scale.output_scale == DEAM_SCALE
    assert scale.mean == pytest.approx((0.0, 0.75))  # (3,7)->(-0.5,0.5); (7,9)->(0.5,1)
    assert scale.std == pytest.approx((0.5, 0.25))
    assert label_scale(list(clips.values()), ["deam-1", "deam-2"], "static") == scale
    with pytest.raises(ValueError, match="deam-4"):
        label_scale(clips, ["deam-1", "deam-4"], "static")


def test_label_scale_dynamic_pools_curve_values_and_both_pools_both():
    clips = [
        song(1, valence=5.0, arousal=5.0, valence_curve=[0.2, 0.4], arousal_curve=[-0.5]),
        song(2, valence=9.0, arousal=1.0, valence_curve=[0.6], arousal_curve=[0.5, 0.5, -0.5]),
    ]
    keys = ["deam-1", "deam-2"]
    dynamic = label_scale(clips, keys, "dynamic")
    assert dynamic.mean == pytest.approx((0.4, 0.0))
    assert dynamic.std == pytest.approx((np.std([0.2, 0.4, 0.6]), 0.5))
    both = label_scale(clips, keys, "both")
    valence = [0.0, 1.0, 0.2, 0.4, 0.6]
    arousal = [0.0, -1.0, -0.5, 0.5, 0.5, -0.5]
    assert both.mean == pytest.approx((np.mean(valence), np.mean(arousal)))
    assert both.std == pytest.approx((np.std(valence), np.std(arousal)))


def test_label_scale_of_quadrant_clips_is_the_probability_scale():
    fourq = fourq_like(6)
    keys = [c.key for c in fourq]
    assert label_scale(fourq, keys, "static") == LabelScale(output_scale=PROBABILITY_SCALE)
    # mixed with DEAM: the DEAM songs alone give the statistics, on DEAM's scale
    deam = [song(1, valence=3.0, arousal=7.0), song(2, valence=7.0, arousal=9.0)]
    mixed = label_scale(deam + fourq, keys + ["deam-1", "deam-2"], "static")
    assert mixed.output_scale == DEAM_SCALE
    assert mixed == label_scale(deam, ["deam-1", "deam-2"], "static")


def test_label_scale_refuses_missing_labels_and_unknown_kinds():
    clips = [song(1, valence=5.0, arousal=5.0)]
    with pytest.raises(UserError, match="no dynamic valence labels"):
        label_scale(clips, ["deam-1"], "dynamic")
    with pytest.raises(UserError, match="static, dynamic, both"):
        label_scale(clips, ["deam-1"], "quadrants")
    constant = label_scale(clips, ["deam-1"], "static")
    assert constant.std[0] > 0  # a constant label still gives finite z-scores
