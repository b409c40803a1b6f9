"""What an exported ONNX model says about itself, defined once for the exporter
(``emotrack.offline.export``) and the tracker, which refuses a model that does not match.

Format 2 (``emotrack-onnx/2``): the graph holds the front end and the model, so it takes
16 kHz mono waveform windows ``(batch, window_samples)`` and returns ``(batch, 2)``: valence
and arousal on the label scale's output scale (1..9). The metadata_props hold the audio
parameters, the label scale, the backbone name and the format version, as strings (JSON where
structured). Format 1 files took front-end features instead and must be re-exported. This
module needs neither torch nor onnx (only :func:`read_onnx_metadata` reads a file, with onnx).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from emotrack.models.audio import AudioConfig
from emotrack.models.errors import UserError
from emotrack.models.scale import DIMENSIONS, LabelScale

if TYPE_CHECKING:
    from emotrack.models.emotion import EmotionModel

ONNX_FORMAT = "emotrack-onnx/2"
OLD_FORMATS = ("emotrack-onnx/1",)  # features in: made by emotrack before the front end moved in
KEY_FORMAT = "emotrack.format"
KEY_AUDIO = "emotrack.audio"  # JSON of AudioConfig.to_dict()
KEY_LABELS = "emotrack.labels"  # JSON of LabelScale.to_dict()
KEY_BACKBONE = "emotrack.backbone"
KEY_OUTPUTS = "emotrack.outputs"  # JSON list of the output columns
INPUT_NAME = "waveform"  # (batch, audio.window_samples) float32: 16 kHz mono windows
OUTPUT_NAME = "va"  # (batch, 2) float32: valence, arousal on 1..9
FIX = "re-export it with `emotrack export RUN --onnx`"


class OnnxModelError(UserError):
    """An ONNX file emotrack cannot use; the message names the file and the fix."""


class OnnxMetadata(NamedTuple):
    audio: AudioConfig
    labels: LabelScale
    backbone: str


def metadata_for(model: EmotionModel) -> dict[str, str]:
    """metadata_props to embed when exporting ``model``."""
    return {
        KEY_FORMAT: ONNX_FORMAT,
        KEY_AUDIO: json.dumps(model.audio.to_dict(), sort_keys=True),
        KEY_LABELS: json.dumps(model.labels.to_dict(), sort_keys=True),
        KEY_BACKBONE: model.config.backbone,
        KEY_OUTPUTS: json.dumps(list(DIMENSIONS)),
    }


def parse_metadata(props: dict[str, str], origin: str | Path = "ONNX model") -> OnnxMetadata:
    """Check and decode metadata_props, e.g. an ONNX Runtime session's
    ``get_modelmeta().custom_metadata_map`` (saves loading the file twice)."""
    found = props.get(KEY_FORMAT)
    if found is None:
        raise OnnxModelError(f"{origin}: not an emotrack ONNX model (no {KEY_FORMAT}); {FIX}")
    if found in OLD_FORMATS:
        raise OnnxModelError(
            f"{origin}: exported by an older emotrack ({found}: the front end ran outside the "
            f"graph); {FIX}"
        )
    if found != ONNX_FORMAT:
        raise OnnxModelError(f"{origin}: ONNX format {found!r}, expected {ONNX_FORMAT!r}; {FIX}")
    try:
        audio = AudioConfig.from_dict(json.loads(props[KEY_AUDIO]))
        labels = LabelScale.from_dict(json.loads(props[KEY_LABELS]))
        backbone = props[KEY_BACKBONE]
        outputs = json.loads(props.get(KEY_OUTPUTS, json.dumps(list(DIMENSIONS))))
    except (KeyError, ValueError, TypeError) as exc:
        raise OnnxModelError(
            f"{origin}: emotrack metadata this version cannot use ({exc}); {FIX}, or update "
            "emotrack if a newer version made it"
        ) from None
    if list(outputs) != list(DIMENSIONS):
        raise OnnxModelError(f"{origin}: outputs {outputs}, expected {list(DIMENSIONS)}; {FIX}")
    return OnnxMetadata(audio, labels, backbone)


def read_onnx_metadata(path: str | Path) -> OnnxMetadata:
    """``(audio, labels, backbone)`` of an exported file (weights are not loaded into memory
    beyond the protobuf itself)."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise OnnxModelError(f"{path}: no such ONNX file; check the path or {FIX}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise OnnxModelError(f"{path}: not a readable ONNX file ({exc}); {FIX}") from None
    return parse_metadata({p.key: p.value for p in model.metadata_props}, path)
