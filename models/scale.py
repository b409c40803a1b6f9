"""What a model's two outputs mean: the valence and arousal scales, with no torch.

Each head gives one number per window; :class:`LabelScale` says what it is. A model trained on
continuous labels (DEAM) predicts z-scores of DEAM's -1..1 scale (the scale holds the train+val
mean and std) and reports ``5 + 4 x unit``, DEAM's 1..9 (``DEAM_SCALE``). A model trained on
quadrant labels alone (4Q) predicts the logit of P(positive valence / high arousal) and reports
``1 + 8 x P`` (``PROBABILITY_SCALE``). Either way every value is on the one 1..9 plane with 5 as
the quadrant boundary. Checkpoints and exported ONNX files carry ``LabelScale.to_dict()``;
:class:`LabelScale` itself is the one place that decides which scales emotrack can report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DEAM_SCALE = "deam-1-9"  # regression: value = 5 + 4 x (z x std + mean)
PROBABILITY_SCALE = "probability-1-9"  # quadrant models: value = 1 + 8 x sigmoid(z)
SCALE_MEANINGS = {
    DEAM_SCALE: "DEAM's 1..9 scale (regressed on continuous annotations); 5 is neutral",
    PROBABILITY_SCALE: "1 + 8 x P(positive valence / high arousal), learned from quadrant "
    "labels; 5 is the quadrant boundary (P = 0.5)",
}
OUTPUT_SCALES = tuple(SCALE_MEANINGS)  # every scale the tracker can report
SIGN_SLOPE = 4.0  # DEAM-scale models: P(positive) = sigmoid(SIGN_SLOPE x unit); 7 -> P = 0.88
DIMENSIONS = ("valence", "arousal")


@dataclass(frozen=True)
class LabelScale:
    """What a head's output means. On ``DEAM_SCALE`` it is a z-score of DEAM's -1..1 scale
    (static 1..9 maps to -1..1 by x1 = (x9 - 5) / 4) with this ``mean`` and ``std``; on
    ``PROBABILITY_SCALE`` a logit (mean and std are unused)."""

    mean: tuple[float, float] = (0.0, 0.0)  # on the -1..1 scale, (valence, arousal)
    std: tuple[float, float] = (1.0, 1.0)
    output_scale: str = DEAM_SCALE

    def __post_init__(self) -> None:
        """ValueError for a scale this version cannot report (a newer emotrack's model)."""
        if self.output_scale not in SCALE_MEANINGS:
            raise ValueError(
                f"output scale {self.output_scale!r} is not one of {', '.join(OUTPUT_SCALES)}"
            )

    @property
    def meaning(self) -> str:
        """What the 1..9 values mean, in words (model cards, reports, `emotrack file`)."""
        return SCALE_MEANINGS[self.output_scale]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LabelScale:
        return cls(tuple(data["mean"]), tuple(data["std"]), data.get("output_scale", DEAM_SCALE))


def nine_to_unit(x):
    """DEAM static 1..9 -> dynamic -1..1 (floats, arrays or tensors)."""
    return (x - 5.0) / 4.0


def unit_to_nine(x):
    """DEAM dynamic -1..1 -> static 1..9 (floats, arrays or tensors)."""
    return 5.0 + 4.0 * x
