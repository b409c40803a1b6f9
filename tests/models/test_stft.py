"""MelPower (the spectrogram the ONNX graph computes) against torchaudio's, which training uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotrack.models.audio import AST_MEL, CNN_MEL, MEL_IMAGE, SAMPLE_RATE, WAVEFORM
from emotrack.models.frontend import FrontEnd


def _windows(samples: int) -> torch.Tensor:
    rng = np.random.default_rng(0)
    t = np.arange(samples) / SAMPLE_RATE
    chirp = 0.5 * np.sin(2 * np.pi * (100 + 700 * t) * t)
    return torch.from_numpy(
        np.stack([chirp, rng.normal(0, 0.1, samples), 1e-4 * chirp]).astype(np.float32)
    )


@pytest.mark.parametrize("config", [CNN_MEL, MEL_IMAGE, AST_MEL], ids=["cnn", "image", "ast"])
def test_mel_power_is_torchaudio_s_spectrogram(config):
    x = _windows(config.window_samples)
    reference = FrontEnd(config).mel(x)
    got = FrontEnd(config, exportable=True).mel(x)
    assert got.shape == reference.shape == (3, config.n_mels, config.n_frames)
    scale = reference.amax(dim=(1, 2), keepdim=True)  # per window: the quiet one too
    assert ((got - reference).abs() / scale).max() < 1e-5


@pytest.mark.parametrize("config", [CNN_MEL, MEL_IMAGE, AST_MEL, WAVEFORM])
def test_exportable_front_end_gives_the_same_model_input(config):
    x = _windows(config.window_samples)
    np.testing.assert_allclose(
        FrontEnd(config, exportable=True)(x).numpy(), FrontEnd(config)(x).numpy(), atol=5e-4
    )
