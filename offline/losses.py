"""Losses for (valence, arousal): regression on z-scored targets, and a logistic sign loss on
quadrant labels, with missing targets masked so one batch can mix datasets.

Every loss takes ``pred`` and ``target`` of shape (B, 2) and ``weight`` (B, 2): 1 where the
target exists, 0 where it is missing (the target value there is ignored). Statistics are taken
per dimension over the batch. A dimension with fewer than two targets in the batch adds no
variance, correlation or CCC term (they are undefined for one value); a batch with no target at
all gives a zero loss that still backpropagates (zero gradients). :func:`sign_loss` is the
loss where a clip has only a quadrant (4Q): binary cross-entropy per dimension.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSS_NAMES = ("mse", "ccc", "smoothl1")
EPS = 1e-6  # keeps square roots and divisions finite (and differentiable) at zero variance
SMOOTH_L1_BETA = 1.0  # in target standard deviations

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class _Moments:
    """Masked per-dimension batch statistics."""

    valid: torch.Tensor  # (D,) bool: the dimension has >= 2 targets
    mean_p: torch.Tensor
    mean_t: torch.Tensor
    var_p: torch.Tensor
    var_t: torch.Tensor
    cov: torch.Tensor


def _moments(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> _Moments:
    count = weight.sum(dim=0)
    n = count.clamp_min(1.0)
    mean_p = (weight * pred).sum(dim=0) / n
    mean_t = (weight * target).sum(dim=0) / n
    dp, dt = pred - mean_p, target - mean_t
    return _Moments(
        valid=count >= 2,
        mean_p=mean_p,
        mean_t=mean_t,
        var_p=(weight * dp * dp).sum(dim=0) / n,
        var_t=(weight * dt * dt).sum(dim=0) / n,
        cov=(weight * dp * dt).sum(dim=0) / n,
    )


def _prepare(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pred = pred.float()
    if weight is None:
        weight = torch.isfinite(target)
    weight = weight.to(pred.dtype)
    target = torch.where(weight > 0, target.float(), torch.zeros_like(pred))
    return pred, target, weight


def _mean_valid(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over the dimensions where the statistic is defined; 0 where none is."""
    return (values * valid).sum() / valid.sum().clamp_min(1)


def _weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def pearson(m: _Moments) -> torch.Tensor:
    """Per-dimension Pearson r from batch moments (finite at zero variance)."""
    return m.cov / (torch.sqrt(m.var_p + EPS) * torch.sqrt(m.var_t + EPS))


def concordance(m: _Moments) -> torch.Tensor:
    """Per-dimension Lin's CCC from batch moments."""
    return 2.0 * m.cov / (m.var_p + m.var_t + (m.mean_p - m.mean_t) ** 2 + EPS)


def variance_penalty(m: _Moments) -> torch.Tensor:
    """Squared mismatch between predicted and true batch variance, averaged over dimensions:
    stops the model from shrinking every prediction to the mean."""
    return _mean_valid((m.var_p - m.var_t) ** 2, m.valid)


def correlation_penalty(m: _Moments) -> torch.Tensor:
    """1 - Pearson r, averaged over dimensions."""
    return _mean_valid(1.0 - pearson(m), m.valid)


def mse(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Masked mean squared error."""
    pred, target, weight = _prepare(pred, target, weight)
    return _weighted_mean((pred - target) ** 2, weight)


def smooth_l1(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Masked Smooth L1 (Huber with beta = 1 target standard deviation)."""
    pred, target, weight = _prepare(pred, target, weight)
    values = F.smooth_l1_loss(pred, target, reduction="none", beta=SMOOTH_L1_BETA)
    return _weighted_mean(values, weight)


def ccc_loss(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """1 - CCC, averaged over dimensions (0 when prediction and target are identical)."""
    pred, target, weight = _prepare(pred, target, weight)
    m = _moments(pred, target, weight)
    return _mean_valid(1.0 - concordance(m), m.valid) + 0.0 * pred.sum()


_BASE = {"mse": mse, "ccc": ccc_loss, "smoothl1": smooth_l1}


@dataclass(frozen=True)
class LossConfig:
    """``name`` picks the base loss; the variance and correlation penalties (the seed's) are
    added to it with these weights (0 turns a penalty off)."""

    name: str = "mse"
    var_weight: float = 0.1
    corr_weight: float = 0.1

    def __post_init__(self) -> None:
        if self.name not in LOSS_NAMES:
            raise ValueError(f"loss must be one of {LOSS_NAMES}, not {self.name!r}")
        if self.var_weight < 0 or self.corr_weight < 0:
            raise ValueError("penalty weights must be >= 0")


def make_loss(config: LossConfig) -> LossFn:
    """``loss(pred, target, weight=None) -> scalar``; ``weight=None`` masks non-finite targets."""
    base = _BASE[config.name]

    def loss(
        pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        pred, target, weight = _prepare(pred, target, weight)
        total = base(pred, target, weight)
        if config.var_weight or config.corr_weight:
            m = _moments(pred, target, weight)
            total = total + config.var_weight * variance_penalty(m)
            total = total + config.corr_weight * correlation_penalty(m)
        return total

    return loss


def sign_loss(
    logits: torch.Tensor, target: torch.Tensor, sureness: torch.Tensor | None = None
) -> torch.Tensor:
    """Logistic loss of (B, 2) sign logits against quadrant signs (1 positive, 0 negative, NaN
    where a window has no quadrant), averaged over the windows that have one; 0 (with zero
    gradients) when none has. ``sureness`` (B,) in 0..1 softens each target towards 0.5 (label
    smoothing): a target of 1 with sureness 0.8 counts as 0.9."""
    logits = logits.float()
    weight = torch.isfinite(target).to(logits.dtype)
    target = torch.where(weight > 0, target.float(), torch.full_like(logits, 0.5))
    if sureness is not None:
        target = 0.5 + (target - 0.5) * sureness.float()[:, None]
    values = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return _weighted_mean(values, weight)
