"""Weight files of the backbones: reading a local file (a state dict or a training checkpoint
holding one), loading it only when every tensor fits, downloading published weights into the
torch hub cache, and Hugging Face models from the hub or a local folder, each failing with a
UserError that says how to get the file."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from emotrack.models.errors import UserError

PRETRAINED_WEIGHTS = "pretrained weights"


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


def download_weights(name: str, url: str) -> Path:
    """The ImageNet weights file at ``url`` in the torch hub cache, downloaded on first use."""
    target = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(target), progress=True)
    except Exception as exc:  # URLError, HTTPError, timeouts, disk errors
        raise UserError(
            f"{name}: downloading ImageNet weights from {url} failed ({exc}); "
            "train from scratch (omit --pretrained), or download that file elsewhere "
            "and pass --weights PATH"
        ) from None
    return target


def from_hub(cls, origin: str, name: str, what: str):
    """``cls.from_pretrained(origin)``, or a UserError saying how to get it offline."""
    try:
        return cls.from_pretrained(origin)
    except Exception as exc:  # OSError offline or for a bad folder, ValueError, HTTP errors
        from huggingface_hub import constants

        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if constants.HF_HUB_OFFLINE:
            reason += " HF_HUB_OFFLINE is set."
        if Path(origin).exists():
            fix = "pass a Hugging Face model folder (config.json and model weights)"
        elif what == PRETRAINED_WEIGHTS:
            fix = (
                f"to work offline, download it where there is internet (`hf download {origin} "
                "--local-dir DIR`) and pass --weights DIR, or train from scratch "
                "(omit --pretrained)"
            )
        else:
            fix = f"download it (`hf download {origin} --local-dir DIR`) and use DIR as the source"
        raise UserError(
            f"{name}: could not load {what} from {origin!r} ({reason}); {fix}"
        ) from None
