"""Backbone registry: a name -> the audio front end it needs and a feature extractor.

Every backbone maps ``(B, *audio_config_for(name).input_shape)`` to ``(B, feature_dim)``.
Heavy modules (mambavision, transformers) are imported only when their backbone is built.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from emotrack.models.audio import AST_MEL, CNN_MEL, MEL_IMAGE, WAVEFORM, AudioConfig
from emotrack.models.errors import UserError

MAMBA_NAMES = ("mamba_vision_T", "mamba_vision_S", "mamba_vision_B")
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
        from emotrack.models.mamba import MambaVisionBackbone

        return MambaVisionBackbone(name, pretrained=pretrained, weights=weights, **kwargs)
    if name in ("cnn", "cnn_fusion"):
        from emotrack.models.cnn import FusionCNN, SmallCNN

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
    from emotrack.models.hf import build_hf_backbone

    return build_hf_backbone(name, pretrained=pretrained, weights=weights, **kwargs)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a weights file: a plain state dict, or a training checkpoint holding one
    under ``state_dict`` or ``model``; a ``module.`` prefix (DataParallel) is dropped."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(path))
        else:
            data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise UserError(f"{path}: not a readable weights file ({exc}); check the path") from None
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    if not isinstance(data, dict) or not all(torch.is_tensor(v) for v in data.values()):
        raise UserError(f"{path}: holds no state dict of tensors; pass a weights file")
    return {k.removeprefix("module."): v for k, v in data.items()}


def load_fitting(
    module: nn.Module,
    state: dict[str, torch.Tensor],
    origin: str | Path,
    name: str,
    ignore_prefixes: tuple[str, ...] = (),
) -> None:
    """Load ``state`` into ``module`` only if every tensor fits; else UserError naming the
    origin and the first mismatches. Keys starting with ``ignore_prefixes`` are skipped."""
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    problems = [
        f"{len(items)} {label} (e.g. {'; '.join(items[:3])})"
        for label, items in (
            ("shape mismatches", shapes),
            ("missing keys", missing),
            ("unexpected keys", unexpected),
        )
        if items
    ]
    if problems:
        raise UserError(
            f"{origin}: weights do not fit backbone {name!r}: {', '.join(problems)}; "
            f"pass weights of {name}, or choose the backbone they were made for"
        )
    module.load_state_dict(state, strict=False)
