"""Backbone + two heads = an emotion model; its checkpoint carries what it needs to be used.

Each head gives one number per window; the model's :class:`LabelScale`
(:mod:`emotrack.models.scale`, no torch) says what it means: a z-score of DEAM's scale for
models trained on continuous labels, the logit of P(positive) for quadrant models. Either way
``to_values`` maps head outputs onto the one 1..9 plane with 5 as the quadrant boundary, and
``sign_logits`` gives the logits the sign loss reads.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from emotrack.models.atomic import write_atomic
from emotrack.models.audio import AudioConfig
from emotrack.models.errors import UserError
from emotrack.models.scale import (  # noqa: F401 - the scale's names, also importable from here
    DEAM_SCALE,
    DIMENSIONS,
    PROBABILITY_SCALE,
    SCALE_MEANINGS,
    SIGN_SLOPE,
    LabelScale,
    nine_to_unit,
    unit_to_nine,
)

CHECKPOINT_FORMAT = "emotrack-checkpoint/1"


class CheckpointError(UserError):
    """A checkpoint that cannot be used; the message says why and what to do."""


class RegressionHead(nn.Sequential):
    """features -> one value."""

    def __init__(self, in_dim: int, hidden: int = 256, dropout: float = 0.2) -> None:
        super().__init__(
            nn.LayerNorm(in_dim),
            nn.Dropout(dropout),
            nn.Linear(in_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model's architecture (not its weights)."""

    backbone: str = "mamba_vision_S"
    head_hidden: int = 256
    dropout: float = 0.2
    backbone_kwargs: dict = field(default_factory=dict)


class EmotionModel(nn.Module):
    """Model input (B, *audio.input_shape) -> (B, 2) z-scores (valence, arousal)."""

    def __init__(
        self,
        backbone: nn.Module,
        config: ModelConfig,
        audio: AudioConfig,
        labels: LabelScale | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.config = config
        self.audio = audio
        self.labels = labels or LabelScale()
        dim = backbone.feature_dim
        self.valence_head = RegressionHead(dim, config.head_hidden, config.dropout)
        self.arousal_head = RegressionHead(dim, config.head_hidden, config.dropout)
        self.register_buffer("label_mean", torch.tensor(self.labels.mean, dtype=torch.float32))
        self.register_buffer("label_std", torch.tensor(self.labels.std, dtype=torch.float32))

    def set_labels(self, labels: LabelScale) -> None:
        self.labels = labels
        self.label_mean.copy_(torch.tensor(labels.mean))
        self.label_std.copy_(torch.tensor(labels.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        return torch.cat([self.valence_head(features), self.arousal_head(features)], dim=1)

    def cast_network(self, dtype: torch.dtype) -> EmotionModel:
        """Backbone and heads in ``dtype``; the label scale stays float32."""
        for part in (self.backbone, self.valence_head, self.arousal_head):
            part.to(dtype)
        return self

    @property
    def probability_scale(self) -> bool:
        return self.labels.output_scale == PROBABILITY_SCALE

    def to_values(self, z: torch.Tensor) -> torch.Tensor:
        """(B, 2) head outputs -> (B, 2) on the 1..9 plane (see the module docstring)."""
        if self.probability_scale:
            return 1.0 + 8.0 * torch.sigmoid(z.float())
        return unit_to_nine(z.float() * self.label_std + self.label_mean)

    def sign_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, 2) head outputs -> logits of P(positive valence / high arousal)."""
        if self.probability_scale:
            return z.float()
        return SIGN_SLOPE * (z.float() * self.label_std + self.label_mean)


class ValueOutput(nn.Module):
    """Wraps a model so its output is already on the 1..9 plane (used for ONNX export)."""

    def __init__(self, model: EmotionModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.to_values(self.model(x))


def build_model(
    config: ModelConfig, labels: LabelScale | None = None, **backbone_options
) -> EmotionModel:
    """Build backbone and heads. ``backbone_options`` (pretrained, weights) are load-time only."""
    from emotrack.models.backbones import audio_config_for, build_backbone

    backbone = build_backbone(config.backbone, **config.backbone_kwargs, **backbone_options)
    return EmotionModel(backbone, config, audio_config_for(config.backbone), labels)


def checkpoint_dict(model: EmotionModel, **extra) -> dict:
    """What a checkpoint file holds: architecture, audio parameters, label scale, weights."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {
        "format": CHECKPOINT_FORMAT,
        "model": asdict(model.config),
        "audio": model.audio.to_dict(),
        "labels": model.labels.to_dict(),
        "state_dict": state,
        **extra,
    }


def atomic_save(obj: object, path: str | Path) -> None:
    """torch.save so that a reader never sees a half-written checkpoint and an interrupted
    save leaves the old one."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, buffer.getvalue())


def read_checkpoint(path: str | Path) -> dict:
    """Load and check a checkpoint file (CPU tensors)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint; pass a run folder or a .pt file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an emotrack checkpoint (expected {CHECKPOINT_FORMAT})")
    return data


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder means its best checkpoint (``best.pt``, else ``last.pt``); a
    cross-validation folder means the model of its ``final/`` run."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt", "final/best.pt", "final/last.pt"):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path}: run folder holds no best.pt or last.pt; train it first")
    return path


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> EmotionModel:
    """Rebuild a model from a run folder or checkpoint file, weights loaded, in eval mode."""
    from emotrack.models.backbones import BACKBONE_NAMES, audio_config_for

    path = resolve_checkpoint(path)
    data = read_checkpoint(path)
    try:
        config = ModelConfig(**data["model"])
        labels = LabelScale.from_dict(data["labels"])
        saved_audio = AudioConfig.from_dict(data["audio"])
        state = data["state_dict"]
        if config.backbone not in BACKBONE_NAMES:
            raise ValueError(f"unknown backbone {config.backbone!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: made by another version of emotrack ({type(exc).__name__}: {exc}); "
            "retrain the model with this version"
        ) from None
    wanted = audio_config_for(config.backbone)
    if saved_audio != wanted:
        diff = "; ".join(saved_audio.differences(wanted))
        raise CheckpointError(
            f"{path}: trained with audio parameters this version does not compute ({diff}); "
            "retrain the model with this version of emotrack"
        )
    model = build_model(config, labels)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = "; ".join(line.strip() for line in str(exc).splitlines()[1:4])
        raise CheckpointError(
            f"{path}: weights do not fit {config.backbone} ({detail}); "
            "the file is damaged or was not written by emotrack-train"
        ) from None
    return model.to(map_location).eval()
