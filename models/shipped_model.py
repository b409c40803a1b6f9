"""The model that ships inside the package: what `emotrack file` and `emotrack live` use when
neither ``--model`` nor ``$EMOTRACK_MODEL`` names one.

It is an exported ONNX file (front end inside, waveform in, values out) trained on real music,
the 4Q audio emotion dataset, with its model card beside it (``shipped/emotrack-4q.md``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SHIPPED_NAME = "emotrack-4q.onnx"
CARD_NAME = "emotrack-4q.md"
DESCRIPTION = (
    "the model shipped with emotrack (trained on real music, the 4Q dataset; --model or "
    "$EMOTRACK_MODEL choose another)"
)


def shipped_model() -> Path | None:
    """Path of the shipped ONNX model, or None when this copy of emotrack has none."""
    path = Path(str(resources.files("emotrack.models") / "shipped" / SHIPPED_NAME))
    return path if path.is_file() else None
