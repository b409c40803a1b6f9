"""Splits (seeded, stratified by year, Music2Emo) and the label scale."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from emotrack.models.emotion import LabelScale
from emotrack.models.errors import UserError
from emotrack.offline.deam import Curve, Song, year_of
from emotrack.offline.splits import (
    Split,
    label_scale,
    music2emo_ids,
    music2emo_split,
    stratified_split,
)


def song(song_id, valence=None, arousal=None, valence_curve=None, arousal_curve=None):
    curves = [
        None if c is None else Curve(15.0 + 0.5 * np.arange(len(c)), np.asarray(c, float))
        for c in (valence_curve, arousal_curve)
    ]
    return Song(
        song_id,
        year_of(song_id),
        valence_mean=valence,
        arousal_mean=arousal,
        valence_curve=curves[0],
        arousal_curve=curves[1],
    )


DEAM_LIKE = [song(i) for i in [*range(2, 746), *range(1001, 2001), *range(2001, 2059)]]


def test_stratified_split_is_seeded_and_ignores_input_order():
    first = stratified_split(DEAM_LIKE, seed=3)
    shuffled = DEAM_LIKE[:]
    random.Random(0).shuffle(shuffled)
    assert stratified_split(shuffled, seed=3) == first
    assert stratified_split(DEAM_LIKE, seed=4) != first
    every = first.train + first.val + first.test
    assert sorted(every) == sorted(s.song_id for s in DEAM_LIKE)  # a partition
    assert len(set(every)) == len(every)
    assert all(part == sorted(part) for part in (first.train, first.val, first.test))


def test_stratified_split_keeps_each_years_share():
    split = stratified_split(DEAM_LIKE, seed=0, val_fraction=0.15, test_fraction=0.2)
    for year, size in {2013: 744, 2014: 1000, 2015: 58}.items():
        test = [i for i in split.test if year_of(i) == year]
        val = [i for i in split.val if year_of(i) == year]
        assert len(test) == round(size * 0.2)
        assert len(val) == round(size * 0.15)


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.5, 0.5), (0.2, 1.0)])
def test_stratified_split_refuses_impossible_fractions(val, test):
    with pytest.raises(UserError, match="fractions"):
        stratified_split(DEAM_LIKE, val_fraction=val, test_fraction=test)


def test_music2emo_lists_ship_with_the_package():
    ids = music2emo_ids()
    assert {part: len(v) for part, v in ids.items()} == {"train": 1261, "val": 271, "test": 270}
    assert len(set().union(*ids.values())) == 1802


def test_music2emo_split_uses_the_songs_present_and_reports_the_rest(caplog):
    ids = music2emo_ids()
    everything = sorted(set().union(*ids.values()))
    full = music2emo_split([song(i) for i in everything])
    assert (full.train, full.val, full.test) == tuple(
        sorted(ids[p]) for p in ("train", "val", "test")
    )
    assert full.absent == []

    gone = {ids["train"][0], ids["val"][0], ids["test"][0]}
    part = music2emo_split([song(i) for i in everything if i not in gone])
    assert part.absent == sorted(gone)
    assert len(part.train) == 1260 and len(part.val) == 270 and len(part.test) == 269
    assert not gone & set(part.train + part.val + part.test)
    assert "3 songs of the music2emo split are not in this data" in caplog.text


def test_music2emo_split_refuses_data_without_its_songs():
    listed = set().union(*music2emo_ids().values())
    outside = [i for i in range(2, 2059) if i not in listed]
    with pytest.raises(UserError, match="stratified"):
        music2emo_split([song(i) for i in outside[:20]])


def test_split_round_trips_through_json():
    split = stratified_split(DEAM_LIKE[:100], seed=1)
    assert Split.from_dict(json.loads(json.dumps(split.to_dict()))) == split


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"train": [1], "val": [2]}, "no test"),
        ({"train": [1, 2], "val": [2], "test": []}, "more than one part"),
        ({"train": ["a"], "val": [], "test": []}, "list of song ids"),
    ],
)
def test_split_from_dict_refuses_bad_splits(data, words):
    with pytest.raises(UserError, match=words):
        Split.from_dict(data)


def test_label_scale_static_uses_only_the_given_ids_on_the_unit_scale():
    songs = {
        1: song(1, valence=3.0, arousal=7.0),
        2: song(2, valence=7.0, arousal=9.0),
        3: song(3, valence=9.0, arousal=1.0),  # a test song: must not count
    }
    scale = label_scale(songs, [1, 2], "static")
    assert isinstance(scale, LabelScale)
    assert scale.mean == pytest.approx((0.0, 0.75))  # (3,7)->(-0.5,0.5); (7,9)->(0.5,1)
    assert scale.std == pytest.approx((0.5, 0.25))
    assert label_scale(list(songs.values()), [1, 2], "static") == scale  # a list works too


def test_label_scale_dynamic_pools_curve_values_and_both_pools_both():
    songs = [
        song(1, valence=5.0, arousal=5.0, valence_curve=[0.2, 0.4], arousal_curve=[-0.5]),
        song(2, valence=9.0, arousal=1.0, valence_curve=[0.6], arousal_curve=[0.5, 0.5, -0.5]),
    ]
    dynamic = label_scale(songs, [1, 2], "dynamic")
    assert dynamic.mean == pytest.approx((0.4, 0.0))
    assert dynamic.std == pytest.approx((np.std([0.2, 0.4, 0.6]), 0.5))
    both = label_scale(songs, [1, 2], "both")
    valence = [0.0, 1.0, 0.2, 0.4, 0.6]
    arousal = [0.0, -1.0, -0.5, 0.5, 0.5, -0.5]
    assert both.mean == pytest.approx((np.mean(valence), np.mean(arousal)))
    assert both.std == pytest.approx((np.std(valence), np.std(arousal)))


def test_label_scale_refuses_missing_labels_and_unknown_kinds():
    songs = [song(1, valence=5.0, arousal=5.0)]
    with pytest.raises(UserError, match="no dynamic valence labels"):
        label_scale(songs, [1], "dynamic")
    with pytest.raises(UserError, match="static, dynamic, both"):
        label_scale(songs, [1], "quadrants")
    constant = label_scale(songs, [1], "static")
    assert constant.std[0] > 0  # a constant label still gives finite z-scores
