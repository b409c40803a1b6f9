"""The one front end: 16 kHz waveform windows -> what a model reads (log-mel image or waveform).

Training (``emotrack.offline``) calls :class:`FrontEnd`, and tracking runs it too: in PyTorch,
or exported into the ONNX graph with the model (``emotrack export``), so the tracker computes
exactly what the model was trained on. Its parameters are the
:class:`emotrack.models.audio.AudioConfig` of the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio

from emotrack.models.audio import LOG_FLOOR, MEL_IMAGE, NORM_EPS, AudioConfig
from emotrack.models.stft import MelPower


class FrontEnd(torch.nn.Module):
    """Waveform windows (B, samples) -> model input (B, *config.input_shape).

    Mel path: power mel spectrogram -> dB (floored ``top_db`` below each window's own peak)
    -> standardised per window -> resized image, repeated over channels. Runs on whatever
    device the module is on; silence and NaN give finite output. ``exportable`` computes the
    spectrogram with :class:`emotrack.models.stft.MelPower` (the same values, in operations
    ONNX Runtime runs fast): what ``emotrack export`` puts into the ONNX graph.
    """

    def __init__(self, config: AudioConfig = MEL_IMAGE, exportable: bool = False) -> None:
        super().__init__()
        self.config = config
        self.mel = (
            torchaudio.transforms.MelSpectrogram(
                sample_rate=config.sample_rate,
                n_fft=config.n_fft,
                win_length=config.win_length,
                hop_length=config.hop_length,
                f_min=config.f_min,
                f_max=config.f_max,
                n_mels=config.n_mels,
                power=2.0,
                center=True,
                pad_mode="reflect",
                norm="slaney",
                mel_scale="slaney",
            )
            if config.representation == "mel"
            else None
        )
        self.exportable = exportable
        if exportable and self.mel is not None:  # the same spectrogram in ONNX-friendly ops
            self.mel = MelPower(config, self.mel.mel_scale.fb)

    @torch.no_grad()
    def log_mel(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> standardised log-mel (B, n_mels, frames). This is what is cached."""
        power = self.mel(self._finite(windows))
        db = 10.0 * torch.log10(power.clamp_min(LOG_FLOOR))
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - self.config.top_db)
        return _standardise(db, dims=(-2, -1))

    def image(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, frames) -> (B, C, H, W): resize (if configured) and repeat channels."""
        x = log_mel.unsqueeze(1)
        size = self.config.image_size
        if size is not None:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x.expand(-1, self.config.image_channels, -1, -1)

    def waveform(self, windows: torch.Tensor) -> torch.Tensor:
        """Raw-audio models: zero-mean, unit-variance per window."""
        return _standardise(self._finite(windows), dims=(-1,))

    def _finite(self, windows: torch.Tensor) -> torch.Tensor:
        """NaN and inf as 0. Not in the exported graph: its callers (the ONNX engine) pass
        finite samples, and the check costs ONNX Runtime almost a millisecond a window."""
        if self.exportable:
            return windows.float()
        return torch.nan_to_num(windows.float(), nan=0.0, posinf=0.0, neginf=0.0)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        if self.config.representation == "waveform":
            return self.waveform(windows)
        return self.image(self.log_mel(windows))

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        """What the cache stores: log-mel for mel models, the raw window for waveform models."""
        if self.config.representation == "waveform":
            return torch.nan_to_num(windows.float(), nan=0.0, posinf=0.0, neginf=0.0)
        return self.log_mel(windows)

    def from_features(self, features: torch.Tensor) -> torch.Tensor:
        """Cached features -> model input (the rest of :meth:`forward`)."""
        if self.config.representation == "waveform":
            return self.waveform(features)
        return self.image(features)


def _standardise(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, unbiased=False)
    return (x - mean) / (std + NORM_EPS)


def spec_augment(
    log_mel: torch.Tensor,
    generator: torch.Generator | None = None,
    freq_masks: int = 2,
    max_freq_width: int = 24,
    time_masks: int = 2,
    max_time_width: int = 20,
) -> torch.Tensor:
    """SpecAugment for training only: zero (the per-window mean) random mel bands and frames.

    ``log_mel`` is (B, n_mels, frames); returns a new tensor, the input is left untouched.
    """
    out = log_mel.clone()
    batch, n_mels, n_frames = out.shape
    for axis, count, max_width, size in (
        (1, freq_masks, max_freq_width, n_mels),
        (2, time_masks, max_time_width, n_frames),
    ):
        for _ in range(count):
            width = torch.randint(0, max_width + 1, (batch,), generator=generator)
            start = (torch.rand(batch, generator=generator) * (size - width).clamp_min(1)).long()
            positions = torch.arange(size)
            mask = (positions[None] >= start[:, None]) & (
                positions[None] < (start + width)[:, None]
            )
            mask = mask.to(out.device)
            if axis == 1:
                out.masked_fill_(mask[:, :, None], 0.0)
            else:
                out.masked_fill_(mask[:, None, :], 0.0)
    return out
