"""What a model's two outputs mean: the valence and arousal scales, with no torch.

A model predicts, per window, valence and arousal as z-scores of DEAM's -1..1 scale;
:class:`LabelScale` holds the train+val mean and std that map them back, and its
``output_scale`` names the scale the values are reported on. Checkpoints and exported ONNX
files carry ``LabelScale.to_dict()``; :meth:`LabelScale.from_dict` is the one place that
decides which scales emotrack can report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DEAM_SCALE = "deam-1-9"  # DEAM's 1..9 scale, 5 the middle
OUTPUT_SCALES = (DEAM_SCALE,)  # every scale the tracker can report
DIMENSIONS = ("valence", "arousal")


@dataclass(frozen=True)
class LabelScale:
    """z-score <-> DEAM scales. Static 1..9 maps to -1..1 by x1 = (x9 - 5) / 4."""

    mean: tuple[float, float] = (0.0, 0.0)  # on the -1..1 scale, (valence, arousal)
    std: tuple[float, float] = (1.0, 1.0)
    output_scale: str = DEAM_SCALE

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LabelScale:
        """ValueError for a scale this version cannot report (a newer emotrack's model)."""
        scale = cls(tuple(data["mean"]), tuple(data["std"]), data.get("output_scale", DEAM_SCALE))
        if scale.output_scale not in OUTPUT_SCALES:
            raise ValueError(
                f"output scale {scale.output_scale!r} is not one of {', '.join(OUTPUT_SCALES)}"
            )
        return scale


def nine_to_unit(x):
    """DEAM static 1..9 -> dynamic -1..1 (floats, arrays or tensors)."""
    return (x - 5.0) / 4.0


def unit_to_nine(x):
    """DEAM dynamic -1..1 -> static 1..9 (floats, arrays or tensors)."""
    return 5.0 + 4.0 * x
