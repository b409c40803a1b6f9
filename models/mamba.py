"""MambaVision (NVIDIA, ``mambavision`` package) as a feature extractor.

The package is used as installed, never copied (its licence is non-commercial). It imports
``mamba_ssm``'s CUDA scan at import time;
:func:`~emotrack.models.selective_scan.dispatch.install_mamba_ssm_standin` provides a portable
one first, so the same model runs on CPU, in ONNX and on GPU. One helper of the package,
``window_reverse``, is replaced by :func:`window_reverse` so that ONNX exports keep a dynamic
batch size.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from emotrack.models.errors import UserError
from emotrack.models.weights import download_weights, load_fitting, read_state_dict

MAMBA_NAMES = ("mamba_vision_T", "mamba_vision_S", "mamba_vision_B")
HEAD_PREFIX = "head."  # ImageNet classifier, not used here


def _mamba_vision():
    """The mambavision model module, importable once the scan stand-in is installed."""
    from emotrack.models.selective_scan.dispatch import install_mamba_ssm_standin

    install_mamba_ssm_standin()
    with warnings.catch_warnings():  # timm deprecation notices about mambavision's imports
        warnings.simplefilter("ignore", FutureWarning)
        from mambavision.models import mamba_vision
    mamba_vision.window_reverse = window_reverse
    return mamba_vision


def window_reverse(windows: torch.Tensor, window_size: int, H: int, W: int) -> torch.Tensor:
    """(batch * windows, window_size**2, C) -> (batch, C, H, W), replacing mambavision's own:
    that one computes the batch size with int(), which a traced (ONNX) graph keeps as the
    example's constant; here it stays symbolic, so exported models take any batch size."""
    channels = windows.shape[2]
    grid = windows.reshape(
        -1, H // window_size, W // window_size, window_size, window_size, channels
    )
    return grid.permute(0, 5, 1, 3, 2, 4).reshape(-1, channels, H, W)


def pretrained_url(name: str) -> str:
    """NVIDIA's ImageNet-1k weights for ``name``, as published in the package's configs."""
    return _mamba_vision().default_cfgs[name]["url"]


class MambaVisionBackbone(nn.Module):
    """(B, 3, 224, 224) mel image -> (B, feature_dim) pooled MambaVision features."""

    def __init__(
        self,
        name: str = "mamba_vision_S",
        pretrained: bool = False,
        weights: str | Path | None = None,
        **model_kwargs,
    ) -> None:
        super().__init__()
        if name not in MAMBA_NAMES:
            raise UserError(f"unknown MambaVision variant {name!r}; choose one of {MAMBA_NAMES}")
        if pretrained:  # before building: fail fast when offline
            weights = download_weights(name, pretrained_url(name))
        factory = getattr(_mamba_vision(), name)
        self.model = factory(pretrained=False, num_classes=0, **model_kwargs)
        self.feature_dim = self.model.norm.num_features
        if weights is not None:
            state = read_state_dict(weights)
            load_fitting(self.model, state, weights, name, ignore_prefixes=(HEAD_PREFIX,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)
