"""The epoch loop's parts on a generated DEAM + 4Q: each window's losses, mixed batches, the
best-epoch monitor, window sampling and label smoothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotrack.models.audio import CNN_MEL
from emotrack.models.emotion import DEAM_SCALE, PROBABILITY_SCALE, ModelConfig, build_model
from emotrack.models.errors import UserError
from emotrack.offline import run_eval
from emotrack.offline.data import Pool, prepare
from emotrack.offline.distributed import Dist
from emotrack.offline.losses import sign_loss
from emotrack.offline.run_folder import FILES
from emotrack.offline.splits import Split
from emotrack.offline.train import TrainConfig
from emotrack.offline.trainer import Trainer, epoch_windows, sureness_of


def make_trainer(run_dir, mixed_pool, datasets=("deam", "4q"), **options) -> Trainer:
    """A Trainer on the generated clips of ``datasets``: per dataset, its first clip
    validates, its second is tested and the rest train."""
    clips, cache = mixed_pool
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for dataset in datasets:
        keys = sorted(k for k, c in clips.items() if c.dataset == dataset)
        parts["val"].append(keys[0])
        parts["test"].append(keys[1])
        parts["train"] += keys[2:]
    split = Split(sorted(parts["train"]), sorted(parts["val"]), sorted(parts["test"]))
    config = TrainConfig(
        dataset=list(datasets), synthetic=8, backbone="cnn", device="cpu", batch_size=8, epochs=1
    )
    for name, value in options.items():
        setattr(config, name, value)
    config = config.resolved()
    pool = Pool(clips, cache, CNN_MEL, {})
    data = prepare(config, pool, split, run_dir, Dist(), FILES)
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="cnn", head_hidden=16))
    return Trainer(config, data, model, None, run_dir, Dist(), torch.device("cpu"))


def _rows(trainer: Trainer, dataset: str) -> np.ndarray:
    keys = trainer.data.parts["train"].keys
    return np.flatnonzero(np.char.startswith(keys, "deam-" if dataset == "deam" else "4q-"))


def _mixed_batch(trainer: Trainer, n: int = 3):
    index = torch.from_numpy(np.concatenate([_rows(trainer, "deam")[:n], _rows(trainer, "4q")[:n]]))
    return trainer.train_set.batch(index)


def _forward(trainer: Trainer, features: torch.Tensor) -> torch.Tensor:
    """Head outputs that keep their gradient; eval mode, so every call gives the same."""
    trainer.model.eval()
    pred = trainer.model(trainer.front_end.from_features(features))
    pred.retain_grad()
    return pred


def test_each_window_of_a_mixed_batch_gets_the_losses_its_labels_allow(tmp_path, mixed_pool):
    trainer = make_trainer(tmp_path, mixed_pool)
    assert trainer.kinds == ["static"] and trainer.signs and trainer.monitor == "loss"
    assert trainer.data.scale.output_scale == DEAM_SCALE  # DEAM's statistics, on its scale
    features, targets = _mixed_batch(trainer)
    deam, fourq = slice(0, 3), slice(3, 6)

    pred = _forward(trainer, features)
    trainer.loss_fn(pred, targets["static"]).backward()
    regression = pred.grad.clone()
    assert (regression[deam].abs().sum(dim=1) > 0).all()
    assert torch.count_nonzero(regression[fourq]) == 0  # no continuous label: no regression

    pred = _forward(trainer, features)
    sign_loss(trainer.model.sign_logits(pred), targets["sign"]).backward()
    signs = pred.grad.clone()
    assert (signs[fourq].abs().sum(dim=1) > 0).all()
    assert torch.count_nonzero(signs[deam]) == 0  # no quadrant label: no sign loss

    pred = _forward(trainer, features)
    total = trainer._loss(pred, targets)
    expected = trainer.loss_fn(pred, targets["static"]) + sign_loss(
        trainer.model.sign_logits(pred), targets["sign"]
    )
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    total.backward()
    assert torch.isfinite(pred.grad).all()
    torch.testing.assert_close(pred.grad, regression + signs, rtol=1e-4, atol=1e-7)


def test_one_training_step_on_a_mixed_batch_updates_the_model(tmp_path, mixed_pool):
    trainer = make_trainer(tmp_path, mixed_pool)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    index = torch.from_numpy(np.concatenate([_rows(trainer, "deam")[:4], _rows(trainer, "4q")[:4]]))
    loss = trainer._step(index)
    assert torch.isfinite(loss)
    grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    head = trainer.model.valence_head[-1].weight
    assert head.grad.abs().sum() > 0
    changed = [
        not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True)
    ]
    assert all(changed)


def test_mixup_keeps_missing_targets_missing_and_trains(tmp_path, mixed_pool):
    trainer = make_trainer(tmp_path, mixed_pool, mixup=0.4)
    features, targets = _mixed_batch(trainer)
    mixed_features, mixed = trainer._mixup(features, targets)
    assert mixed_features.shape == features.shape and set(mixed) == set(targets)
    # a DEAM window blended with a 4Q window has neither label: never a made-up value
    for kind in ("static", "sign"):
        assert torch.isfinite(mixed[kind]).sum() <= torch.isfinite(targets[kind]).sum()
    signs = mixed["sign"][torch.isfinite(mixed["sign"])]
    assert ((signs >= 0) & (signs <= 1)).all()
    index = torch.from_numpy(np.concatenate([_rows(trainer, "deam")[:4], _rows(trainer, "4q")[:4]]))
    assert torch.isfinite(trainer._step(index))


@pytest.mark.parametrize(("smoothing", "sureness"), [("pquad", None), ("0.2", 0.8)])
def test_label_smoothing_softens_the_sign_targets(tmp_path, mixed_pool, smoothing, sureness):
    trainer = make_trainer(tmp_path, mixed_pool, datasets=("4q",), label_smoothing=smoothing)
    features, targets = trainer.train_set.batch(torch.arange(6))
    pred = _forward(trainer, features)
    confidence = targets["confidence"] if sureness is None else torch.full((6,), sureness)
    assert sureness is not None or not torch.all(confidence == 1.0)  # PQuad varies
    logits = trainer.model.sign_logits(pred)
    expected = sign_loss(logits, targets["sign"], confidence)
    assert trainer._loss(pred, targets).item() == pytest.approx(expected.item(), rel=1e-6)
    assert expected.item() != pytest.approx(sign_loss(logits, targets["sign"]).item())


def test_the_best_epoch_monitor_follows_the_labels(tmp_path, mixed_pool):
    quadrant = make_trainer(tmp_path / "4q", mixed_pool, datasets=("4q",))
    assert quadrant.monitor == "f1" and quadrant.kinds == [] and quadrant.signs
    assert quadrant.data.scale.output_scale == PROBABILITY_SCALE
    continuous = make_trainer(tmp_path / "deam", mixed_pool, datasets=("deam",))
    assert continuous.monitor == "r2" and continuous.kinds == ["static"]
    assert not continuous.signs
    with pytest.raises(UserError, match="--monitor r2 needs continuous labels"):
        make_trainer(tmp_path / "a", mixed_pool, datasets=("4q",), monitor="r2")
    with pytest.raises(UserError, match="--monitor f1 needs quadrant labels"):
        make_trainer(tmp_path / "b", mixed_pool, datasets=("deam",), monitor="f1")


def test_validation_of_a_mixed_part_scores_each_dataset(tmp_path, mixed_pool):
    trainer = make_trainer(tmp_path, mixed_pool, labels="both")
    assert trainer.kinds == ["static", "dynamic"]
    metrics = trainer.evaluator.evaluate("val", trainer.val_set)
    assert np.isfinite(metrics["loss"])
    model = metrics["methods"]["model"]
    assert model["quadrants"]["n"] == 1  # the 4Q clip, by its own label
    assert model["song"]["valence"]["n"] == 1 and model["frame"] is not None
    scores = run_eval.scores(metrics)
    assert {"val_macro_f1", "val_accuracy", "val_r2_valence", "val_ccc_arousal"} <= set(scores)
    values = np.array(metrics["clips"]["model"])
    assert ((values >= 1) & (values <= 9)).all()


def test_epoch_windows_draw_some_windows_of_every_clip():
    clip_of_window = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 3])
    every = epoch_windows(clip_of_window, None, seed=0)
    assert sorted(every) == list(range(10))
    picked = epoch_windows(clip_of_window, 2, seed=0)
    assert len(picked) == len(set(picked)) == 2 + 2 + 2 + 1
    assert np.bincount(clip_of_window[picked]).tolist() == [2, 2, 2, 1]
    assert epoch_windows(clip_of_window, 2, seed=0).tolist() == picked.tolist()
    draws = {tuple(sorted(epoch_windows(clip_of_window, 2, seed=s))) for s in range(10)}
    assert len(draws) > 1  # another epoch, other windows


def test_label_smoothing_options():
    assert sureness_of("none") is None and sureness_of("0") is None
    assert sureness_of("pquad") == "pquad"
    assert sureness_of("0.2") == pytest.approx(0.8)
    for bad in ("1", "-0.1", "lots"):
        with pytest.raises(UserError, match="--label-smoothing"):
            sureness_of(bad)
