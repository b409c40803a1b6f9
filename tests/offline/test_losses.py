"""Training losses: known values, masking, finite gradients; the sign loss of quadrant labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from emotrack.offline.losses import LossConfig, ccc_loss, make_loss, mse, sign_loss, smooth_l1


def _pair(seed: int = 0, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g)


def test_mse_and_smooth_l1_known_values():
    pred = torch.tensor([[0.0, 0.0], [2.0, 0.5]])
    target = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    assert mse(pred, target).item() == pytest.approx((1 + 0 + 4 + 0.25) / 4)
    # Huber, beta 1: 0.5 d² below 1, |d| - 0.5 above
    assert smooth_l1(pred, target).item() == pytest.approx((0.5 + 0 + 1.5 + 0.125) / 4)


def test_ccc_is_zero_loss_for_identical_and_matches_formula():
    pred, target = _pair()
    assert ccc_loss(target, target).item() == pytest.approx(0.0, abs=1e-5)
    p, t = pred.numpy().astype(np.float64), target.numpy().astype(np.float64)
    expected = []
    for d in range(2):
        cov = np.mean((p[:, d] - p[:, d].mean()) * (t[:, d] - t[:, d].mean()))
        ccc = 2 * cov / (p[:, d].var() + t[:, d].var() + (p[:, d].mean() - t[:, d].mean()) ** 2)
        expected.append(1 - ccc)
    assert ccc_loss(pred, target).item() == pytest.approx(np.mean(expected), abs=1e-5)


def test_penalties_are_added_with_their_weights():
    pred, target = _pair(1)
    base = make_loss(LossConfig("mse", 0.0, 0.0))(pred, target).item()
    p, t = pred.numpy().astype(np.float64), target.numpy().astype(np.float64)
    var_gap = np.mean((p.var(axis=0) - t.var(axis=0)) ** 2)
    one_minus_r = np.mean([1 - np.corrcoef(p[:, d], t[:, d])[0, 1] for d in range(2)])
    full = make_loss(LossConfig("mse", 0.5, 2.0))(pred, target).item()
    assert base == pytest.approx(mse(pred, target).item())
    assert full == pytest.approx(base + 0.5 * var_gap + 2.0 * one_minus_r, abs=1e-4)
    # a perfect prediction costs nothing, penalties included
    assert make_loss(LossConfig("mse", 1.0, 1.0))(target, target).item() == pytest.approx(
        0.0, abs=1e-5
    )


def test_variance_penalty_punishes_predicting_the_mean():
    _, target = _pair(2)
    shrunk = torch.zeros_like(target)
    loss = make_loss(LossConfig("mse", 1.0, 0.0))
    assert loss(shrunk, target).item() > mse(shrunk, target).item() + 0.1


@pytest.mark.parametrize("name", ["mse", "ccc", "smoothl1"])
def test_missing_targets_are_ignored(name):
    loss = make_loss(LossConfig(name, 0.3, 0.3))
    pred, target = _pair(3, n=12)
    holey = target.clone()
    holey[::3, 0] = math.nan
    holey[1::4, 1] = math.nan
    kept = ~torch.isnan(holey)
    garbage = torch.where(kept, holey, torch.full_like(holey, 1e6))
    by_nan = loss(pred, holey)
    by_weight = loss(pred, garbage, kept.float())
    assert torch.isfinite(by_nan)
    assert by_nan.item() == pytest.approx(by_weight.item(), rel=1e-5)
    # CCC: the same as scoring each dimension on its own rows (MSE pools the dimensions)
    if name == "ccc":
        per_dim = [loss(pred[kept[:, d], d : d + 1], target[kept[:, d], d : d + 1]) for d in (0, 1)]
        assert by_nan.item() == pytest.approx(float(sum(per_dim) / 2), rel=1e-4)


@pytest.mark.parametrize("name", ["mse", "ccc", "smoothl1"])
def test_gradients_are_finite_even_for_degenerate_batches(name):
    loss = make_loss(LossConfig(name, 0.5, 0.5))
    cases = {
        "constant prediction": (torch.zeros(8, 2), _pair(4, 8)[1]),
        "constant target": (_pair(5, 8)[0], torch.ones(8, 2)),
        "one row": (torch.randn(1, 2), torch.randn(1, 2)),
        "no target": (torch.randn(4, 2), torch.full((4, 2), math.nan)),
    }
    for case, (pred, target) in cases.items():
        pred = pred.clone().requires_grad_(True)
        value = loss(pred, target)
        value.backward()
        assert torch.isfinite(value), case
        assert torch.isfinite(pred.grad).all(), case
    pred = torch.randn(4, 2, requires_grad=True)
    value = loss(pred, torch.full((4, 2), math.nan))
    assert value.item() == 0.0
    value.backward()
    assert torch.count_nonzero(pred.grad) == 0


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        LossConfig("l1")
    with pytest.raises(ValueError, match=">= 0"):
        LossConfig("mse", var_weight=-1)


def _bce(logit: float, target: float) -> float:
    """Binary cross-entropy of one logit, by hand."""
    p = 1.0 / (1.0 + math.exp(-logit))
    return -(target * math.log(p) + (1.0 - target) * math.log(1.0 - p))


def test_sign_loss_is_the_mean_binary_cross_entropy():
    logits = torch.tensor([[0.0, 2.0], [-1.0, 0.5], [3.0, -2.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    pairs = [(0.0, 1), (2.0, 0), (-1.0, 0), (0.5, 1), (3.0, 1), (-2.0, 1)]
    expected = sum(_bce(z, t) for z, t in pairs) / 6
    assert sign_loss(logits, target).item() == pytest.approx(expected, rel=1e-6)
    assert _bce(0.0, 1) == pytest.approx(math.log(2.0))  # an undecided logit costs log 2


def test_sign_loss_ignores_windows_without_a_quadrant():
    logits = torch.tensor([[1.0, -1.0], [50.0, -50.0], [0.5, 0.5]], requires_grad=True)
    target = torch.tensor([[1.0, 0.0], [math.nan, math.nan], [0.0, 1.0]])
    value = sign_loss(logits, target)
    expected = (_bce(1.0, 1) + _bce(-1.0, 0) + _bce(0.5, 0) + _bce(0.5, 1)) / 4
    assert value.item() == pytest.approx(expected, rel=1e-6)
    value.backward()
    assert torch.count_nonzero(logits.grad[1]) == 0  # no quadrant: no gradient
    assert torch.isfinite(logits.grad).all() and torch.count_nonzero(logits.grad[0]) == 2
    # the gradient of mean BCE is (sigmoid(z) - t) / n
    grad = (torch.sigmoid(torch.tensor(1.0)) - 1.0) / 4
    assert logits.grad[0, 0].item() == pytest.approx(grad.item(), rel=1e-5)


def test_sign_loss_without_any_quadrant_is_zero_with_zero_gradients():
    logits = torch.randn(5, 2, requires_grad=True)
    value = sign_loss(logits, torch.full((5, 2), math.nan))
    assert value.item() == 0.0
    value.backward()
    assert torch.isfinite(logits.grad).all() and torch.count_nonzero(logits.grad) == 0


def test_sign_loss_smoothing_softens_each_target_by_its_sureness():
    logits = torch.tensor([[2.0, -1.0], [0.3, 4.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    sureness = torch.tensor([0.8, 0.5])
    # a target of 1 with sureness 0.8 counts as 0.9, a 0 as 0.1; with 0.5: 0.75 and 0.25
    pairs = [(2.0, 0.9), (-1.0, 0.1), (0.3, 0.25), (4.0, 0.75)]
    expected = sum(_bce(z, t) for z, t in pairs) / 4
    assert sign_loss(logits, target, sureness).item() == pytest.approx(expected, rel=1e-6)
    assert sign_loss(logits, target, torch.ones(2)).item() == pytest.approx(
        sign_loss(logits, target).item()
    )
    # no sureness at all: every target is 0.5, and the best logit is 0
    zero = torch.zeros(2, 2, requires_grad=True)
    flat = sign_loss(zero, target, torch.zeros(2))
    assert flat.item() == pytest.approx(math.log(2.0))
    flat.backward()
    assert torch.count_nonzero(zero.grad) == 0
