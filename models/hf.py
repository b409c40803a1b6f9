"""Hugging Face transformers backbones: AST on 128-band log-mels, Wav2Vec2 on raw audio.

The architecture comes from a fixed config (the published model's, a local folder's, or a
tiny random one for tests), so a checkpoint rebuilds offline; published weights are loaded
into it only when asked (``pretrained`` or ``weights=FOLDER``), and must fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from emotrack.models.errors import UserError
from emotrack.models.weights import PRETRAINED_WEIGHTS, from_hub, load_fitting


@dataclass(frozen=True)
class _Spec:
    model_class: str
    config_class: str
    source: str  # published model; its architecture is the config class's defaults
    tiny: dict  # small random architecture for tests


SPECS = {
    "ast": _Spec(
        "ASTModel",
        "ASTConfig",
        "MIT/ast-finetuned-audioset-10-10-0.4593",
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_length=512,
        ),
    ),
    "wav2vec2": _Spec(
        "Wav2Vec2Model",
        "Wav2Vec2Config",
        "facebook/wav2vec2-base",
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(16, 16, 16, 16),
            conv_kernel=(10, 3, 3, 3),
            conv_stride=(5, 4, 4, 4),
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
        ),
    ),
}


class ASTBackbone(nn.Module):
    """(B, 1, 128, frames) log-mel -> (B, hidden) mean of AST's last hidden states. The
    frames are padded with zeros (the standardised mean) or cropped to ``max_length``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.max_length = model.config.max_length
        self.feature_dim = model.config.hidden_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x[:, 0].transpose(1, 2)  # (B, frames, mels)
        frames = F.pad(frames, (0, 0, 0, self.max_length - frames.shape[1]))  # < 0 crops
        return self.model(input_values=frames).last_hidden_state.mean(dim=1)


class Wav2Vec2Backbone(nn.Module):
    """(B, samples) standardised 16 kHz audio -> (B, hidden) mean of the hidden states."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.feature_dim = model.config.hidden_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(input_values=x).last_hidden_state.mean(dim=1)


_WRAPPERS = {"ast": ASTBackbone, "wav2vec2": Wav2Vec2Backbone}


def build_hf_backbone(
    name: str,
    pretrained: bool = False,
    weights: str | Path | None = None,
    source: str | None = None,
    tiny: bool = False,
) -> nn.Module:
    """AST or Wav2Vec2. ``source`` is a Hugging Face model id or local model folder whose
    architecture to use (default: the published model); ``pretrained`` loads its weights,
    ``weights=FOLDER`` loads a local copy of them; ``tiny`` builds a small random model."""
    import transformers

    spec = SPECS[name]
    source = source or spec.source
    model_class = getattr(transformers, spec.model_class)
    config_class = getattr(transformers, spec.config_class)
    if tiny:
        if pretrained or weights is not None:
            raise UserError(f"{name}: a tiny model is random; omit --pretrained and --weights")
        config = config_class(**spec.tiny)
    elif source == spec.source:
        config = config_class()
    else:
        config = from_hub(config_class, source, name, "architecture")
    origin = weights if weights is not None else (source if pretrained else None)
    published = None
    if origin is not None:  # before building: fail fast when offline
        published = from_hub(model_class, str(origin), name, PRETRAINED_WEIGHTS)
    model = model_class(config)
    if published is not None:
        load_fitting(model, published.state_dict(), origin, name)
    return _WRAPPERS[name](model)
