"""Clips: one record for DEAM songs and 4Q clips, keyed across datasets, grouped by artist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotrack.offline.clips import deam_key, from_deam, from_fourq
from emotrack.offline.deam_records import Curve, Song
from emotrack.offline.fourq import FourQClip


def _curve(values) -> Curve:
    return Curve(15.0 + 0.5 * np.arange(len(values)), np.asarray(values, dtype=np.float64))


def test_a_deam_song_keeps_its_continuous_labels():
    song = Song(
        12,
        2013,
        audio_path=Path("12.mp3"),
        valence_mean=6.0,
        arousal_mean=3.5,
        valence_curve=_curve([0.1, 0.2]),
        arousal_curve=_curve([-0.3]),
    )
    clip = from_deam(song)
    assert clip.key == deam_key(12) == "deam-12" and clip.dataset == "deam"
    assert clip.group == "deam-12" and clip.stratum == "2013"  # each song its own group
    assert clip.static == (6.0, 3.5) and clip.has_static and clip.has_dynamic
    assert clip.curves[0] is song.valence_curve and clip.audio_path == Path("12.mp3")
    assert not clip.has_quadrant and clip.quadrant is None and clip.confidence is None
    assert clip.true_quadrant == 4  # valence high, arousal low


@pytest.mark.parametrize(
    ("valence", "arousal", "quadrant"),
    [(7.0, 7.0, 1), (3.0, 7.0, 2), (3.0, 3.0, 3), (7.0, 3.0, 4), (5.0, 5.0, 1), (4.99, 5.0, 2)],
)
def test_static_means_give_the_quadrant_with_5_counting_high(valence, arousal, quadrant):
    clip = from_deam(Song(2, 2013, valence_mean=valence, arousal_mean=arousal))
    assert clip.true_quadrant == quadrant


def test_a_deam_song_without_some_labels():
    dynamic_only = from_deam(Song(3, 2014, valence_curve=_curve([0.1]), arousal_curve=None))
    assert dynamic_only.static is None and not dynamic_only.has_static
    assert not dynamic_only.has_dynamic and dynamic_only.curves[1] is None
    assert dynamic_only.true_quadrant is None
    half = from_deam(Song(4, 2014, valence_mean=5.0))  # one mean is not a static label
    assert half.static is None and half.curves is None


def test_a_4q_clip_keeps_its_quadrant_and_artist():
    clip = from_fourq(
        FourQClip(
            "MT0000040632",
            quadrant=3,
            artist="Gipsy Kings",
            confidence=0.75,
            audio_path=Path("a.mp3"),
        )
    )
    assert clip.key == "4q-MT0000040632" and clip.dataset == "4q"
    assert clip.group == "artist:gipsy kings" and clip.stratum == "Q3"
    assert clip.quadrant == clip.true_quadrant == 3 and clip.has_quadrant
    assert clip.confidence == 0.75 and not clip.has_static and not clip.has_dynamic
    alone = from_fourq(FourQClip("MT0000000001", quadrant=1))
    assert alone.group == "4q-MT0000000001"  # no artist: a group of its own


def test_artist_spellings_that_differ_in_case_spaces_or_punctuation_are_one_group():
    spellings = ["The Beatles", "the beatles", "THE BEATLES!", " The  Beatles ", "The_Beatles"]
    groups = {
        from_fourq(FourQClip(f"MT{i:010d}", 1, artist=a)).group for i, a in enumerate(spellings)
    }
    assert groups == {"artist:the beatles"}
    others = {
        from_fourq(FourQClip("MT0000000009", 1, artist=a)).group
        for a in ("Beatles", "Guns N' Roses")
    }
    assert others == {"artist:beatles", "artist:guns n roses"}
    assert from_fourq(FourQClip("MT1", 1, artist="Guns N Roses")).group == "artist:guns n roses"
