"""Backbone registry: a name -> the audio front end it needs and a feature extractor.

Every backbone maps ``(B, *audio_config_for(name).input_shape)`` to ``(B, feature_dim)``.
Heavy modules (mambavision, transformers) are imported only when their backbone is built;
weight files are :mod:`emotrack.models.weights`' to read.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from emotrack.models.audio import AST_MEL, CNN_MEL, MEL_IMAGE, WAVEFORM, AudioConfig
from emotrack.models.cnn import FusionCNN, SmallCNN
from emotrack.models.errors import UserError
from emotrack.models.hf import build_hf_backbone
from emotrack.models.mamba import MAMBA_NAMES, MambaVisionBackbone
from emotrack.models.weights import load_fitting, read_state_dict

BACKBONE_NAMES = (*MAMBA_NAMES, "cnn", "cnn_fusion", "ast", "wav2vec2")

_AUDIO = {
    **{name: MEL_IMAGE for name in MAMBA_NAMES},
    "cnn": CNN_MEL,
    "cnn_fusion": CNN_MEL,
    "ast": AST_MEL,
    "wav2vec2": WAVEFORM,
}


def _check_name(name: str) -> None:
    if name not in BACKBONE_NAMES:
        raise UserError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONE_NAMES)}")


def audio_config_for(name: str) -> AudioConfig:
    """The front end whose output this backbone reads."""
    _check_name(name)
    return _AUDIO[name]


def build_backbone(
    name: str, pretrained: bool = False, weights: str | Path | None = None, **kwargs
) -> nn.Module:
    """Build backbone ``name``; ``pretrained`` downloads its published weights, ``weights``
    loads a local file (or, for ast/wav2vec2, a Hugging Face model folder). Other keyword
    arguments configure the architecture and are stored in checkpoints."""
    _check_name(name)
    if pretrained and weights is not None:
        raise UserError("give either --pretrained or --weights PATH, not both")
    if weights is not None and not Path(weights).exists():
        raise UserError(f"{weights}: no such weights file or folder; check the path")
    if name in MAMBA_NAMES:
        return MambaVisionBackbone(name, pretrained=pretrained, weights=weights, **kwargs)
    if name in ("cnn", "cnn_fusion"):
        if pretrained:
            raise UserError(f"backbone {name!r} has no published weights; omit --pretrained")
        if name == "cnn":
            model = SmallCNN(**kwargs)
        else:
            audio = CNN_MEL
            frame = audio.hop_length / audio.sample_rate
            model = FusionCNN(audio.n_mels, audio.n_frames, frame, **kwargs)
        if weights is not None:
            load_fitting(model, read_state_dict(weights), weights, name)
        return model
    return build_hf_backbone(name, pretrained=pretrained, weights=weights, **kwargs)
