"""Per-window targets: static broadcast, dynamic window means with masking, quadrant signs,
z-scoring, batching, and windows of several datasets in one set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotrack.models.emotion import LabelScale
from emotrack.offline.clips import Clip, from_deam, from_fourq
from emotrack.offline.dataset import (
    DeviceWindows,
    build_windows,
    curve_window_means,
    shuffled_labels,
    sign_target,
    to_z,
    window_targets,
)
from emotrack.offline.deam_records import Curve, Song
from emotrack.offline.fourq import FourQClip

WINDOW = 5.0


def _curve(values, start=15.0) -> Curve:
    values = np.asarray(values, dtype=np.float64)
    return Curve(start + 0.5 * np.arange(len(values)), values)


def _song(song_id=2, valence=7.0, arousal=3.0, v_curve=None, a_curve=None) -> Clip:
    """A DEAM song as a clip (``valence`` None: no static label)."""
    return from_deam(
        Song(
            song_id,
            2013,
            valence_mean=valence,
            arousal_mean=arousal,
            valence_curve=v_curve,
            arousal_curve=a_curve,
        )
    )


def _fourq(number=1, quadrant=2, confidence=None) -> Clip:
    return from_fourq(FourQClip(f"MT{number:010d}", quadrant, confidence=confidence))


def test_static_label_is_broadcast_to_every_window_on_the_unit_scale():
    starts = np.array([0.0, 8.0, 40.0])
    targets = window_targets(_song(valence=7.0, arousal=3.0), starts, WINDOW)
    np.testing.assert_allclose(targets["static"], [[0.5, -0.5]] * 3)
    missing = window_targets(_song(valence=None), starts, WINDOW)["static"]
    assert np.isnan(missing).all()  # one mean alone is no static label
    assert np.isnan(targets["sign"]).all()  # DEAM songs have no quadrant label


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


@pytest.mark.parametrize(
    ("quadrant", "signs"), [(1, [1, 1]), (2, [0, 1]), (3, [0, 0]), (4, [1, 0])]
)
def test_a_quadrant_gives_sign_targets_and_nothing_else(quadrant, signs):
    clip = _fourq(quadrant=quadrant)
    np.testing.assert_array_equal(sign_target(clip), signs)
    targets = window_targets(clip, np.array([0.0, 3.0]), WINDOW)
    np.testing.assert_array_equal(targets["sign"], [signs, signs])
    assert np.isnan(targets["static"]).all() and np.isnan(targets["dynamic"]).all()


def _number(key: str) -> float:
    return float(key.rsplit("-", 1)[1].removeprefix("MT"))


def _fake_cache(n_windows=3, shape=(4, 5)):
    """load(key): windows filled with the clip's number, starts 0..40 s."""

    def load(key):
        feats = np.full((n_windows, *shape), _number(key), dtype=np.float32)
        return feats, np.linspace(0.0, 40.0, n_windows)

    return load


def test_build_windows_stacks_songs_in_order():
    songs = [_song(2, 7.0, 3.0, _curve([0.5] * 60)), _song(5, 3.0, 7.0, None)]
    ws = build_windows(songs, _fake_cache(), WINDOW)
    assert len(ws) == 6 and ws.features.shape == (6, 4, 5)
    np.testing.assert_array_equal(ws.keys, ["deam-2"] * 3 + ["deam-5"] * 3)
    assert (ws.features[:3] == 2).all() and (ws.features[3:] == 5).all()
    np.testing.assert_allclose(ws.targets["static"][3:], [[-0.5, 0.5]] * 3)
    # windows at 0, 20, 40 s: the first holds no annotated frame
    assert np.isnan(ws.targets["dynamic"][0, 0]) and ws.targets["dynamic"][1, 0] == 0.5
    assert np.isnan(ws.targets["dynamic"][3:]).all()
    assert ws.kinds() == ["static", "dynamic"] and (ws.confidence == 1.0).all()
    with pytest.raises(ValueError, match="no clips"):
        build_windows([], _fake_cache(), WINDOW)


def test_a_deam_song_and_a_4q_clip_in_one_set_keep_their_own_targets():
    clips = [_song(2, 7.0, 3.0, _curve([0.5] * 60)), _fourq(7, quadrant=2, confidence=0.6)]
    ws = build_windows(clips, _fake_cache(), WINDOW)
    assert ws.keys.tolist() == ["deam-2"] * 3 + ["4q-MT0000000007"] * 3
    deam, fourq = slice(0, 3), slice(3, 6)
    assert np.isfinite(ws.targets["static"][deam]).all()
    assert np.isnan(ws.targets["sign"][deam]).all()
    np.testing.assert_array_equal(ws.targets["sign"][fourq], [[0.0, 1.0]] * 3)
    assert np.isnan(ws.targets["static"][fourq]).all()
    assert np.isnan(ws.targets["dynamic"][fourq]).all()
    np.testing.assert_allclose(ws.confidence, [1.0, 1.0, 1.0, 0.6, 0.6, 0.6])
    assert ws.kinds() == ["static", "dynamic", "sign"]
    assert ws.confidence.dtype == np.float32 and ws.features.dtype == np.float32


def test_shuffled_labels_permute_labels_between_songs_only():
    songs = [_song(i, 1.0 + i / 10, 9.0 - i / 10) for i in range(2, 40)]
    mapping = shuffled_labels(songs, seed=0)
    assert sorted(mapping) == sorted(s.key for s in songs)
    assert sorted(s.key for s in mapping.values()) == sorted(s.key for s in songs)
    assert sum(mapping[s.key] is s for s in songs) < 5
    ws = build_windows(songs, _fake_cache(1), WINDOW, labels_from=mapping)
    assert (ws.features[:, 0, 0] == [_number(k) for k in ws.keys]).all()  # audio stays put
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


def test_device_windows_z_score_regression_targets_but_not_signs():
    clips = [_song(2, 7.0, 3.0), _fourq(3, quadrant=4, confidence=0.8)]
    ws = build_windows(clips, _fake_cache(2), WINDOW)
    store = DeviceWindows(ws, LabelScale(mean=(0.5, 0.5), std=(0.25, 0.25)), torch.device("cpu"))
    assert len(store) == 4
    _, targets = store.batch(torch.tensor([0, 2]))
    assert set(targets) == {"static", "dynamic", "sign", "confidence"}
    torch.testing.assert_close(targets["static"][0], torch.tensor([0.0, -4.0]))
    assert torch.isnan(targets["static"][1]).all() and torch.isnan(targets["sign"][0]).all()
    torch.testing.assert_close(targets["sign"][1], torch.tensor([1.0, 0.0]))  # not z-scored
    torch.testing.assert_close(targets["confidence"], torch.tensor([1.0, 0.8]))
    kept_on_cpu = DeviceWindows(ws, LabelScale(), torch.device("cpu"), resident=False)
    feats, _ = kept_on_cpu.batch(torch.tensor([3]))
    assert feats[0, 0, 0] == 3.0


def test_a_generated_deam_and_4q_in_one_set(mixed_pool):
    """Real cached windows of both generated datasets: each window has exactly the targets
    its clip's labels allow, NaN elsewhere."""
    clips, cache = mixed_pool
    ws = build_windows(list(clips.values()), cache.load, 5.0)
    assert (
        len(ws) == 2 * len(clips) and ws.features.shape[1:] == cache.load(ws.keys[0])[0].shape[1:]
    )
    deam = np.char.startswith(ws.keys, "deam-")
    assert deam.sum() == 12 and (~deam).sum() == 16
    assert np.isfinite(ws.targets["static"][deam]).all()
    assert np.isnan(ws.targets["static"][~deam]).all()
    assert np.isnan(ws.targets["dynamic"][~deam]).all()
    assert np.isnan(ws.targets["sign"][deam]).all()
    assert set(np.unique(ws.targets["sign"][~deam])) == {0.0, 1.0}
    # DEAM's curves start at 15 s: a window's dynamic target is finite exactly where one of
    # the 2 Hz frames falls inside it (the second of a 16 s song's two windows, not the first)
    starts = np.concatenate([cache.load(k)[1] for k in clips])
    has_frames = starts + 5.0 > 15.0
    assert (np.isfinite(ws.targets["dynamic"][deam]).all(axis=1) == has_frames[deam]).all()
    for key in clips:
        rows = ws.keys == key
        expected = 1.0 if clips[key].confidence is None else clips[key].confidence
        np.testing.assert_allclose(ws.confidence[rows], expected, rtol=1e-6)
