"""Handcrafted musical descriptors of a log-mel window, computed inside the model.

Emotion research on small datasets finds that learned features and classic descriptors of
timbre, dynamics and rhythm work best together (Louro et al., Sensors 2024). These are fixed
(not learned) functions of the standardised log-mel the front end gives every model, so they
cost nothing to keep in step between training and tracking and export to ONNX with the rest:

- timbre: DCT of the band means and of the band standard deviations over time (MFCC-like),
  spectral centroid, spread and entropy per frame (mean and std over time), and the mean and
  std over time of eight groups of bands;
- dynamics: the std and range of the frame level (mean over bands) over time;
- rhythm: spectral flux (mean, std) and the autocorrelation of the flux at lags from 0.25 to
  2 s: its peak (pulse clarity), where the peak is (a tempo proxy) and its profile in 8 bins.
"""

from __future__ import annotations

import math

import torch
from torch import nn

N_DCT = 16  # DCT coefficients kept of the band-mean and band-std profiles
BAND_GROUPS = 8
LAG_SECONDS = (0.25, 2.0)  # autocorrelation lags searched for a beat period
LAG_BINS = 8
EPS = 1e-6


def _dct_matrix(n: int, k: int) -> torch.Tensor:
    """(n, k) orthonormal DCT-II basis."""
    i = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(k, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi / n * (i + 0.5) * j) * math.sqrt(2.0 / n)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.float()


class MelDescriptors(nn.Module):
    """(B, 1, n_mels, frames) standardised log-mel -> (B, :attr:`dim`) descriptors."""

    def __init__(self, n_mels: int, frames: int, frame_seconds: float) -> None:
        super().__init__()
        self.register_buffer("dct", _dct_matrix(n_mels, N_DCT), persistent=False)
        self.register_buffer("bins", torch.linspace(0.0, 1.0, n_mels), persistent=False)
        low = max(1, int(round(LAG_SECONDS[0] / frame_seconds)))
        high = min(frames - 2, int(round(LAG_SECONDS[1] / frame_seconds)))
        self.lags = list(range(low, max(high, low) + 1))
        self.groups = BAND_GROUPS if n_mels % BAND_GROUPS == 0 else 1
        self.dim = 2 * N_DCT + 6 + 2 * self.groups + 2 + 2 + 2 + LAG_BINS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mel = x[:, 0].float()  # (B, M, T)
        batch, n_mels, frames = mel.shape
        means, stds = mel.mean(dim=2), mel.std(dim=2)
        timbre = [means @ self.dct, stds @ self.dct]
        weights = torch.softmax(mel, dim=1)  # each frame's shape over bands
        centroid = (weights * self.bins[None, :, None]).sum(dim=1)
        spread = (
            (weights * (self.bins[None, :, None] - centroid[:, None]) ** 2).sum(dim=1) + EPS
        ).sqrt()
        entropy = -(weights * (weights + EPS).log()).sum(dim=1) / math.log(n_mels)
        per_frame = [_mean_std(v) for v in (centroid, spread, entropy)]
        grouped = mel.reshape(batch, self.groups, n_mels // self.groups, frames).mean(dim=2)
        groups = [grouped.mean(dim=2), grouped.std(dim=2)]
        level = mel.mean(dim=1)
        dynamics = torch.stack([level.std(dim=1), level.amax(dim=1) - level.amin(dim=1)], dim=1)
        flux = torch.relu(mel[:, :, 1:] - mel[:, :, :-1]).mean(dim=1)  # (B, T-1)
        rhythm = [_mean_std(flux), self._pulse(flux)]
        return torch.cat([*timbre, *per_frame, *groups, dynamics, *rhythm], dim=1)

    def _pulse(self, flux: torch.Tensor) -> torch.Tensor:
        """Peak, peak position and binned profile of the flux autocorrelation over the lags."""
        centred = flux - flux.mean(dim=1, keepdim=True)
        energy = (centred * centred).sum(dim=1) + EPS
        corr = torch.stack(
            [(centred[:, lag:] * centred[:, :-lag]).sum(dim=1) / energy for lag in self.lags],
            dim=1,
        )
        peak, where = corr.max(dim=1)
        position = where.float() / max(len(self.lags) - 1, 1)
        bins = torch.stack([part.mean(dim=1) for part in corr.chunk(LAG_BINS, dim=1)], dim=1)
        if bins.shape[1] < LAG_BINS:  # fewer lags than bins: pad with the last
            bins = torch.cat([bins, bins[:, -1:].expand(-1, LAG_BINS - bins.shape[1])], dim=1)
        return torch.cat([peak[:, None], position[:, None], bins], dim=1)


def _mean_std(v: torch.Tensor) -> torch.Tensor:
    return torch.stack([v.mean(dim=1), v.std(dim=1)], dim=1)
