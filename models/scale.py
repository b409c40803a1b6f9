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

import math
from dataclasses import asdict, dataclass

import numpy as np

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

# The one plane every model reports on: 1..9 on both axes, 5 the middle and quadrant boundary
SCALE_MIN, SCALE_MAX = 1.0, 9.0
MIDDLE = 5.0  # 5 counts as high (positive valence, high arousal)
# Russell's quadrants, Q1..Q4 counter-clockwise from positive valence and high arousal
QUADRANTS = ("happy/excited", "tense/angry", "sad/depressed", "calm/relaxed")
# mood words around the plane, counter-clockwise from positive valence, 45 degrees each
MOODS = ("happy", "excited", "tense", "angry", "sad", "depressed", "calm", "relaxed")
NEUTRAL_RADIUS = 0.5  # closer than this to (5, 5): "neutral"


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


def quadrant_index(valence, arousal):
    """0..3 for Q1..Q4 (floats or arrays): Q1 v >= 5, a >= 5; Q2 v < 5, a >= 5; Q3 v < 5,
    a < 5; Q4 v >= 5, a < 5."""
    high_v, high_a = np.asarray(valence) >= MIDDLE, np.asarray(arousal) >= MIDDLE
    return np.where(high_a, np.where(high_v, 0, 1), np.where(high_v, 3, 2))


def quadrant(valence: float, arousal: float) -> str:
    """The quadrant's name: happy/excited, tense/angry, sad/depressed or calm/relaxed."""
    return QUADRANTS[int(quadrant_index(valence, arousal))]


def quadrant_label(index: int) -> str:
    """``"Q1 happy/excited"`` for index 0, and so on (reports and plots)."""
    return f"Q{index + 1} {QUADRANTS[index]}"


def mood(valence: float, arousal: float) -> str:
    """A mood word for a point on the plane, "neutral" near its middle or for non-finite values."""
    dv, da = valence - MIDDLE, arousal - MIDDLE
    if not (math.isfinite(dv) and math.isfinite(da)) or math.hypot(dv, da) < NEUTRAL_RADIUS:
        return "neutral"
    angle = math.degrees(math.atan2(da, dv)) % 360.0
    return MOODS[int(angle // 45.0) % len(MOODS)]
