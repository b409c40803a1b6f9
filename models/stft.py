"""The mel power spectrogram as convolution and matrix products, for the ONNX graph.

:class:`FrontEnd` computes its spectrogram with ``torch.stft`` (an FFT). ONNX has an STFT
operator, but ONNX Runtime computes it several times slower on a CPU than the FFT does, so
an exported front end uses :class:`MelPower` instead: the same centred, Hann-windowed STFT of
one window length, factorised as two small DFTs (Cooley-Tukey, ``n_fft = n1 x n2``). The first
DFT, with the window and the twiddle factors folded into its kernels, is a strided grouped
convolution over chunks of ``n2`` samples; the second is one matrix product; the mel
filterbank is another. ONNX Runtime runs these as large matrix products on every core.
``emotrack export`` checks the exported graph against ``FrontEnd`` before writing a file.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from emotrack.models.audio import AudioConfig


def _factor(n_fft: int, hop: int) -> tuple[int, int]:
    """``(n1, n2)`` with ``n1 * n2 == n_fft``, ``n2`` dividing the hop, as square as possible."""
    options = [n2 for n2 in range(1, n_fft + 1) if n_fft % n2 == 0 and hop % n2 == 0]
    n2 = min(options, key=lambda n2: abs(n2 - n_fft / n2))
    return n_fft // n2, n2


class MelPower(torch.nn.Module):
    """(B, window_samples) -> power mel spectrogram (B, n_mels, n_frames), as
    ``torchaudio.transforms.MelSpectrogram(power=2, center=True, pad_mode="reflect")`` computes
    it with ``filterbank`` (n_fft // 2 + 1, n_mels). Only for windows of the config's length."""

    def __init__(self, config: AudioConfig, filterbank: torch.Tensor) -> None:
        super().__init__()
        n_fft, hop, length = config.n_fft, config.hop_length, config.win_length
        n1, n2 = _factor(n_fft, hop)
        self.n_fft, self.hop, self.n1, self.n2 = n_fft, hop, n1, n2
        self.k2 = n2 // 2 + 1  # second-stage outputs needed for the one-sided spectrum
        self.frames = config.n_frames
        f64 = torch.float64
        window = torch.zeros(n_fft, dtype=f64)  # torch.stft centres a shorter window
        left = (n_fft - length) // 2
        window[left : left + length] = torch.hann_window(length, dtype=f64)
        i1, i2 = torch.arange(n1, dtype=f64), torch.arange(n2, dtype=f64)
        k1 = i1.clone()
        # sample n = n2*i1 + i2, bin k = k1 + n1*k2. Stage 1 for each (i2, k1), twiddle included:
        # Z = sum_i1 w[n] x[n] exp(-2 pi i (i1 k1 / n1 + i2 k1 / n_fft))
        k1 = k1[None, :, None]
        angle = 2 * math.pi * (i1[None, None, :] * k1 / n1 + i2[:, None, None] * k1 / n_fft)
        w = window.reshape(n1, n2).T[:, None, :]  # (i2, 1, i1)
        kernels = torch.stack([w * torch.cos(angle), -w * torch.sin(angle)], dim=1)
        self.register_buffer("stage1", kernels.reshape(n2 * 2 * n1, 1, n1).float())
        # Stage 2 over i2, re and im parts stacked: X = sum_i2 Z exp(-2 pi i i2 k2 / n2)
        k2 = torch.arange(self.k2, dtype=f64)
        theta = 2 * math.pi * k2[:, None] * i2[None, :] / n2  # (k2, i2)
        cos, sin = torch.cos(theta), torch.sin(theta)
        real = torch.stack([cos, sin], dim=2).reshape(self.k2, 2 * n2)  # Zr cos + Zi sin
        imag = torch.stack([-sin, cos], dim=2).reshape(self.k2, 2 * n2)  # Zi cos - Zr sin
        self.register_buffer("stage2", torch.cat([real, imag]).float())  # (2 k2, 2 n2)
        # |X|^2 summed by the filterbank: rows re (k2, k1) then im (k2, k1); bin k1 + n1*k2
        bins = n_fft // 2 + 1
        full = torch.zeros(self.k2 * n1, filterbank.shape[1], dtype=filterbank.dtype)
        full[:bins] = filterbank
        self.register_buffer("filterbank", torch.cat([full, full]).T.contiguous().float())

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        batch = windows.shape[0]
        pad = self.n_fft // 2
        padded = F.pad(windows.unsqueeze(1), (pad, pad), mode="reflect")[:, 0]
        need = (self.frames - 1) * self.hop + self.n_fft
        chunks = padded[:, :need].reshape(batch, need // self.n2, self.n2).transpose(1, 2)
        z = F.conv1d(chunks, self.stage1, stride=self.hop // self.n2, groups=self.n2)
        z = z.reshape(batch, 2 * self.n2, self.n1 * self.frames)  # rows (i2, re|im)
        spectrum = torch.matmul(self.stage2, z)  # (B, 2 k2, n1 * frames): re then im
        squares = (spectrum * spectrum).reshape(batch, 2 * self.k2 * self.n1, self.frames)
        return torch.matmul(self.filterbank, squares)
