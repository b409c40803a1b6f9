"""Handcrafted descriptors of a log-mel window, and the CNN that fuses them with its own."""

from __future__ import annotations

import math

import pytest
import torch

from emotrack.models.audio import CNN_MEL
from emotrack.models.cnn import FusionCNN, SmallCNN
from emotrack.models.descriptors import BAND_GROUPS, LAG_BINS, N_DCT, MelDescriptors
from emotrack.models.emotion import ModelConfig, build_model

M, T = CNN_MEL.n_mels, CNN_MEL.n_frames
FRAME = CNN_MEL.hop_length / CNN_MEL.sample_rate
# where each descriptor sits in the output
CENTROID = 2 * N_DCT
GROUPS = CENTROID + 6
DYNAMICS = GROUPS + 2 * BAND_GROUPS
FLUX = DYNAMICS + 2
PEAK, POSITION = FLUX + 2, FLUX + 3


@pytest.fixture(scope="module")
def descriptors() -> MelDescriptors:
    return MelDescriptors(M, T, FRAME)


def _pulses(period: int, batch: int = 1) -> torch.Tensor:
    """A loud two-frame burst every ``period`` frames over every band."""
    x = torch.zeros(batch, 1, M, T)
    x[..., (torch.arange(T) % period) < 2] = 3.0
    return x


def test_shape_and_finite_values_even_for_silence(descriptors):
    assert descriptors.dim == 2 * N_DCT + 6 + 2 * BAND_GROUPS + 2 + 2 + 2 + LAG_BINS
    noise = torch.randn(3, 1, M, T, generator=torch.Generator().manual_seed(0))
    out = descriptors(noise)
    assert out.shape == (3, descriptors.dim) and torch.isfinite(out).all()
    torch.testing.assert_close(descriptors(noise), out)  # fixed, not learned
    assert not list(descriptors.parameters())
    silence = descriptors(torch.zeros(2, 1, M, T))  # no variance anywhere: still finite
    assert torch.isfinite(silence).all()


def test_timbre_profile_is_an_orthonormal_dct_of_the_band_means(descriptors):
    flat = descriptors(torch.full((1, 1, M, T), 2.0))
    assert flat[0, 0].item() == pytest.approx(2.0 * math.sqrt(M), rel=1e-5)  # DC term
    assert flat[0, 1:N_DCT].abs().max().item() < 1e-4
    low, high = torch.zeros(1, 1, M, T), torch.zeros(1, 1, M, T)
    low[:, :, :8], high[:, :, -8:] = 3.0, 3.0
    assert descriptors(high)[0, CENTROID] > descriptors(low)[0, CENTROID] + 0.3  # brighter
    groups = descriptors(high)[0, GROUPS : GROUPS + BAND_GROUPS]
    assert groups.argmax().item() == BAND_GROUPS - 1 and groups[0].item() == 0.0


def test_dynamics_follow_the_level_over_time(descriptors):
    steady = descriptors(torch.ones(1, 1, M, T))
    assert steady[0, DYNAMICS : DYNAMICS + 2].abs().max().item() < 1e-5
    swell = torch.linspace(-2.0, 2.0, T).expand(1, 1, M, T).clone()
    level_std, level_range = descriptors(swell)[0, DYNAMICS : DYNAMICS + 2]
    assert level_range.item() == pytest.approx(4.0, rel=1e-4)
    assert level_std.item() == pytest.approx(torch.linspace(-2.0, 2.0, T).std().item(), rel=1e-4)


@pytest.mark.parametrize("period", [16, 25, 40])  # 0.51, 0.8 and 1.28 s between beats
def test_the_beat_period_is_where_the_flux_autocorrelation_peaks(descriptors, period):
    out = descriptors(_pulses(period))
    lag = out[0, POSITION].item() * (len(descriptors.lags) - 1) + descriptors.lags[0]
    assert lag == pytest.approx(period, abs=1e-3)
    assert out[0, PEAK] > 0.6  # a clear pulse
    noise = torch.randn(1, 1, M, T, generator=torch.Generator().manual_seed(1))
    assert descriptors(noise)[0, PEAK] < 0.35 < out[0, PEAK]


def test_fusion_cnn_joins_learned_and_handcrafted_features():
    torch.manual_seed(0)
    fusion = FusionCNN(M, T, FRAME, channels=(8, 16), descriptor_dim=12)
    assert fusion.feature_dim == 16 + 12
    x = torch.randn(4, 1, M, T)
    features = fusion(x)
    assert features.shape == (4, 28) and torch.isfinite(features).all()
    torch.testing.assert_close(features[:, :16], fusion.cnn(x))
    features.sum().backward()
    assert fusion.cnn.features[0].weight.grad.abs().sum() > 0
    assert fusion.project[1].weight.grad.abs().sum() > 0


def test_the_cnn_fusion_backbone_builds_a_model_on_the_cnns_input():
    model = build_model(ModelConfig(backbone="cnn_fusion", head_hidden=8)).eval()
    assert model.audio == CNN_MEL
    assert isinstance(model.backbone, FusionCNN) and isinstance(model.backbone.cnn, SmallCNN)
    with torch.no_grad():
        z = model(torch.randn(2, *CNN_MEL.input_shape))
    assert z.shape == (2, 2) and torch.isfinite(z).all()
