"""Per-window targets: static broadcast, dynamic window means with masking, z-scoring, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotrack.models.emotion import LabelScale
from emotrack.offline.dataset import (
    DeviceWindows,
    build_windows,
    curve_window_means,
    shuffled_labels,
    to_z,
    window_targets,
)
from emotrack.offline.deam import Curve, Song

WINDOW = 5.0


def _curve(values, start=15.0) -> Curve:
    values = np.asarray(values, dtype=np.float64)
    return Curve(start + 0.5 * np.arange(len(values)), values)


def _song(song_id=2, valence=7.0, arousal=3.0, v_curve=None, a_curve=None) -> Song:
    return Song(
        song_id,
        2013,
        valence_mean=valence,
        arousal_mean=arousal,
        valence_curve=v_curve,
        arousal_curve=a_curve,
    )


def test_static_label_is_broadcast_to_every_window_on_the_unit_scale():
    starts = np.array([0.0, 8.0, 40.0])
    targets = window_targets(_song(valence=7.0, arousal=3.0), starts, WINDOW)
    np.testing.assert_allclose(targets["static"], [[0.5, -0.5]] * 3)
    missing = window_targets(_song(valence=None), starts, WINDOW)["static"]
    assert np.isnan(missing[:, 0]).all() and (missing[:, 1] == -0.5).all()


def test_dynamic_target_is_the_mean_of_the_frames_inside_the_window():
    # 2 Hz from 15 s: frames at 15.0, 15.5, ..., 44.5 (60 frames), values = frame index / 100
    curve = _curve(np.arange(60) / 100)
    starts = np.array([0.0, 10.0, 12.5, 15.0, 40.0, 44.5, 45.0])
    means = curve_window_means(curve, starts, WINDOW)
    assert np.isnan(means[0])  # 0..5 s: before annotations start
    assert np.isnan(means[1])  # 10..15 s: the first frame, at 15.0 s, is past its end
    # 12.5..17.5 s holds 15.0 .. 17.0 (frames 0..4)
    assert means[2] == pytest.approx(np.mean(np.arange(0, 5)) / 100)
    # 15..20 s: frames 0..9 (20.0 itself belongs to the next window)
    assert means[3] == pytest.approx(np.mean(np.arange(0, 10)) / 100)
    # 40..45 s: frames 50..59; 44.5..49.5: frame 59 only; 45..50: nothing
    assert means[4] == pytest.approx(np.mean(np.arange(50, 60)) / 100)
    assert means[5] == pytest.approx(0.59)
    assert np.isnan(means[6])


def test_dynamic_frames_missing_inside_a_curve_are_skipped():
    full = _curve(np.linspace(-1, 1, 60))
    keep = np.ones(60, dtype=bool)
    keep[10:20] = False  # 20.0 .. 24.5 s dropped as empty cells
    holey = Curve(full.times[keep], full.values[keep])
    means = curve_window_means(holey, np.array([20.0, 18.0]), WINDOW)
    assert np.isnan(means[0])
    assert means[1] == pytest.approx(full.values[6:10].mean())


def test_both_kinds_per_window_with_masks_per_dimension():
    song = _song(v_curve=_curve([0.2] * 60), a_curve=None)
    targets = window_targets(song, np.array([0.0, 20.0]), WINDOW)
    assert targets["static"].shape == targets["dynamic"].shape == (2, 2)
    assert np.isnan(targets["dynamic"][0]).all()  # before 15 s: masked in both dimensions
    assert targets["dynamic"][1, 0] == pytest.approx(0.2)
    assert np.isnan(targets["dynamic"][1, 1])  # no arousal curve
    np.testing.assert_allclose(targets["static"][1], [0.5, -0.5])


def test_z_scores_use_the_run_scale_and_keep_nan():
    scale = LabelScale(mean=(0.1, -0.2), std=(0.5, 0.25))
    z = to_z(np.array([[0.6, 0.05], [np.nan, -0.2]]), scale)
    np.testing.assert_allclose(z[0], [1.0, 1.0])
    assert np.isnan(z[1, 0]) and z[1, 1] == 0.0
    assert z.dtype == np.float32


def _fake_cache(n_windows=3, shape=(4, 5)):
    def load(song_id):
        feats = np.full((n_windows, *shape), float(song_id), dtype=np.float32)
        return feats, np.linspace(0.0, 40.0, n_windows)

    return load


def test_build_windows_stacks_songs_in_order():
    songs = [_song(2, 7.0, 3.0, _curve([0.5] * 60)), _song(5, 3.0, 7.0, None)]
    ws = build_windows(songs, _fake_cache(), WINDOW)
    assert len(ws) == 6 and ws.features.shape == (6, 4, 5)
    np.testing.assert_array_equal(ws.song_ids, [2, 2, 2, 5, 5, 5])
    assert (ws.features[:3] == 2).all() and (ws.features[3:] == 5).all()
    np.testing.assert_allclose(ws.targets["static"][3:], [[-0.5, 0.5]] * 3)
    # windows at 0, 20, 40 s: the first holds no annotated frame
    assert np.isnan(ws.targets["dynamic"][0, 0]) and ws.targets["dynamic"][1, 0] == 0.5
    assert np.isnan(ws.targets["dynamic"][3:]).all()


def test_shuffled_labels_permute_labels_between_songs_only():
    songs = [_song(i, 1.0 + i / 10, 9.0 - i / 10) for i in range(2, 40)]
    mapping = shuffled_labels(songs, seed=0)
    assert sorted(mapping) == [s.song_id for s in songs]
    assert sorted(s.song_id for s in mapping.values()) == [s.song_id for s in songs]
    assert sum(mapping[s.song_id] is s for s in songs) < 5
    ws = build_windows(songs, _fake_cache(1), WINDOW, labels_from=mapping)
    assert (ws.features[:, 0, 0] == ws.song_ids).all()  # audio stays with its song
    assert sorted(ws.targets["static"][:, 0]) == sorted(
        window_targets(s, [0.0], WINDOW)["static"][0, 0] for s in songs
    )
    assert mapping == shuffled_labels(songs, seed=0)


def test_device_windows_gather_batches_with_z_scored_targets():
    songs = [_song(2, 7.0, 3.0), _song(5, 3.0, 7.0)]
    ws = build_windows(songs, _fake_cache(), WINDOW)
    scale = LabelScale(mean=(0.0, 0.0), std=(0.5, 0.5))
    store = DeviceWindows(ws, scale, torch.device("cpu"))
    feats, targets = store.batch(torch.tensor([4, 0]))
    assert feats.shape == (2, 4, 5)
    assert feats[0, 0, 0] == 5 and feats[1, 0, 0] == 2
    torch.testing.assert_close(targets["static"], torch.tensor([[-1.0, 1.0], [1.0, -1.0]]))
    assert torch.isnan(targets["dynamic"]).all()
