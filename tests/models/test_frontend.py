"""The front end: log-mel images and waveforms from 16 kHz windows, SpecAugment."""

import numpy as np
import pytest
import torch

from emotrack.models.audio import AST_MEL, CNN_MEL, MEL_IMAGE, WAVEFORM
from emotrack.models.frontend import FrontEnd, spec_augment


def tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)


@pytest.mark.parametrize("config", [MEL_IMAGE, CNN_MEL, AST_MEL, WAVEFORM])
def test_front_end_shapes_and_finiteness(config):
    front = FrontEnd(config)
    rng = np.random.default_rng(1)
    windows = np.stack(
        [
            np.zeros(config.window_samples),  # silence
            1e-9 * rng.standard_normal(config.window_samples),  # near-silence
            np.full(config.window_samples, np.nan),  # NaN
            0.3 * rng.standard_normal(config.window_samples),
        ]
    ).astype(np.float32)
    out = front(torch.from_numpy(windows))
    assert out.shape == (4, *config.input_shape)
    assert torch.isfinite(out).all()
    assert torch.equal(front.from_features(front.features(torch.from_numpy(windows))), out)


def test_log_mel_is_standardised_per_window_and_independent_of_batch():
    front = FrontEnd(MEL_IMAGE)
    rng = np.random.default_rng(2)
    loud = 0.9 * rng.standard_normal((1, 80_000)).astype(np.float32)
    quiet = 0.001 * rng.standard_normal((1, 80_000)).astype(np.float32)
    both = front.log_mel(torch.from_numpy(np.concatenate([loud, quiet])))
    alone = front.log_mel(torch.from_numpy(quiet))
    torch.testing.assert_close(both[1:], alone, atol=1e-4, rtol=1e-4)
    assert both.mean(dim=(1, 2)).abs().max() < 1e-4
    assert torch.allclose(both.std(dim=(1, 2), unbiased=False), torch.ones(2), atol=1e-3)


def test_spectrogram_follows_pitch():
    front = FrontEnd(CNN_MEL)
    low = front.log_mel(torch.from_numpy(tone(200, 5.0, 16_000))[None])
    high = front.log_mel(torch.from_numpy(tone(3_000, 5.0, 16_000))[None])
    assert low[0].mean(dim=1).argmax() < high[0].mean(dim=1).argmax()


def test_spec_augment_masks_training_input_only():
    x = torch.randn(3, 64, 157)
    generator = torch.Generator().manual_seed(0)
    y = spec_augment(x, generator, max_freq_width=10, max_time_width=10)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert (y == 0).any() and not (x == 0).any()  # input untouched
    changed = (y != x).float().mean()
    assert 0 < changed < 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("config", [MEL_IMAGE, CNN_MEL])
def test_gpu_front_end_gives_the_cpu_numbers(config):
    windows = torch.from_numpy(
        0.3 * np.random.default_rng(3).standard_normal((8, config.window_samples))
    ).float()
    cpu = FrontEnd(config)(windows)
    gpu = FrontEnd(config).cuda()(windows.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=2e-3, rtol=1e-3)
