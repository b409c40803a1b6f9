"""Plots write real PNGs, also for degenerate runs (one epoch, one song, constant output)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from emotrack.offline.plots import plot_confusion, plot_history, plot_predictions, plot_va_plane

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, min_bytes=5_000):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > min_bytes
    image = imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert image[..., :3].std() > 0.01  # something was drawn
    assert not list(path.parent.glob(".*.tmp"))  # no temporary file left behind


def test_history_of_several_epochs_and_of_one(tmp_path):
    history = [
        {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "val_r2_valence": 0.1 * e}
        | {"val_r2_arousal": 0.15 * e}
        for e in range(1, 6)
    ]
    _assert_png(plot_history(history, tmp_path / "h.png"))
    _assert_png(plot_history(history[:1], tmp_path / "one.png"))


def test_history_of_a_quadrant_run(tmp_path):
    history = [
        {"epoch": e, "train_loss": 0.7 / e, "val_loss": 0.8 / e, "val_macro_f1": 0.2 * e}
        for e in range(1, 4)
    ]
    _assert_png(plot_history(history, tmp_path / "f1.png"))


def test_history_with_missing_values_or_none(tmp_path):
    history = [{"epoch": 1, "train_loss": 0.9, "val_loss": None}, {"epoch": 2, "train_loss": 0.7}]
    _assert_png(plot_history(history, tmp_path / "partial.png"))
    _assert_png(plot_history([], tmp_path / "nested" / "empty.png"))


@pytest.mark.parametrize("n", [1, 40])
def test_predictions_and_plane(tmp_path, n):
    rng = np.random.default_rng(n)
    true = rng.uniform(1, 9, size=(n, 2))
    pred = np.clip(true + rng.normal(scale=0.8, size=(n, 2)), 1, 9)
    _assert_png(plot_predictions(true, pred, tmp_path / "pred.png"))
    _assert_png(plot_va_plane(true, pred, tmp_path / "plane.png"))


def test_constant_predictions_plot(tmp_path):
    true = np.random.default_rng(0).uniform(1, 9, size=(20, 2))
    flat = np.full_like(true, 5.0)
    _assert_png(plot_predictions(true, flat, tmp_path / "flat.png", label="mean baseline"))
    _assert_png(plot_va_plane(true, flat, tmp_path / "flat_plane.png", label="mean baseline"))


def test_confusion_counts_and_empty_matrix(tmp_path):
    confusion = np.array([[10, 2, 0, 1], [3, 8, 1, 0], [0, 2, 12, 4], [1, 0, 3, 9]])
    path = plot_confusion(confusion, tmp_path / "confusion.png", label="model, all folds")
    _assert_png(path)
    one_row = np.zeros((4, 4), dtype=int)
    one_row[1, 1] = 3  # only Q2 occurs: undefined F1s are left out, not a crash
    _assert_png(plot_confusion(one_row, tmp_path / "one.png"))
    path.write_bytes(b"old")  # overwritten in place, atomically
    _assert_png(plot_confusion(np.zeros((4, 4), dtype=int), path))
