"""The seed's small CNN on 64-band log-mels: fast enough to train on a CPU."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """(B, 1, n_mels, frames) -> (B, channels[-1]): conv3x3-BN-ReLU-maxpool blocks,
    then global average pooling."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128), in_channels: int = 1) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        previous = in_channels
        for width in channels:
            blocks += [
                nn.Conv2d(previous, width, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            previous = width
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


class FusionCNN(nn.Module):
    """The small CNN's learned features beside handcrafted musical descriptors of the same
    log-mel (:class:`~emotrack.models.descriptors.MelDescriptors`), each normalised, joined."""

    def __init__(
        self,
        n_mels: int,
        frames: int,
        frame_seconds: float,
        channels: tuple[int, ...] = (32, 64, 128),
        descriptor_dim: int = 64,
    ) -> None:
        super().__init__()
        from emotrack.models.descriptors import MelDescriptors

        self.cnn = SmallCNN(channels)
        self.descriptors = MelDescriptors(n_mels, frames, frame_seconds)
        self.project = nn.Sequential(
            nn.BatchNorm1d(self.descriptors.dim),
            nn.Linear(self.descriptors.dim, descriptor_dim),
            nn.GELU(),
        )
        self.feature_dim = self.cnn.feature_dim + descriptor_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.cnn(x), self.project(self.descriptors(x))], dim=1)
