"""The model shipped in the package: present, small, says what its values mean, and tracks
generated music with finite values on the 1..9 plane."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from emotrack.models.audio import CNN_MEL, frame_windows, window_starts
from emotrack.models.onnx_meta import INPUT_NAME, OUTPUT_NAME, read_onnx_metadata
from emotrack.models.scale import PROBABILITY_SCALE, SCALE_MEANINGS
from emotrack.models.shipped_model import CARD_NAME, shipped_model

MAX_BYTES = 20 * 2**20  # the limit for a model inside the package


@pytest.fixture(scope="module")
def shipped():
    path = shipped_model()
    assert path is not None, "models/shipped/ holds no emotrack-4q.onnx"
    return path


def test_the_shipped_model_is_small_and_carries_its_scale(shipped):
    assert shipped.stat().st_size <= MAX_BYTES
    audio, labels, backbone = read_onnx_metadata(shipped)
    assert labels.output_scale == PROBABILITY_SCALE and backbone == "cnn_fusion"
    assert audio == CNN_MEL  # the audio parameters this version computes
    card = json.loads(shipped.with_suffix(".json").read_text())
    assert card["output_scale"] == labels.output_scale
    words = "1 + 8 x P(positive valence / high arousal)"
    assert words in card["meaning"] and words in SCALE_MEANINGS[labels.output_scale]
    assert card["cv"]["folds"] == 10
    text = (shipped.parent / CARD_NAME).read_text()
    assert "4Q" in text and "macro-F1" in text and "research" in text  # the licence note


def test_the_shipped_model_tracks_generated_music_on_the_1_to_9_plane(shipped):
    from emotrack.offline.synth_music import Drift, render

    songs = [  # a slow, dark song and a fast, bright one
        render(
            Drift(v, (), (), ()), Drift(a, (), (), ()), 12.0, 16_000, 1, np.random.default_rng(s)
        )
        for s, (v, a) in enumerate([(-0.6, -0.6), (0.6, 0.7)])
    ]
    session = ort.InferenceSession(str(shipped), providers=["CPUExecutionProvider"])
    values = []
    for song in songs:
        mono = song[:, 0].astype(np.float32)
        x = frame_windows(mono, window_starts(len(mono), CNN_MEL, step_seconds=1.0), CNN_MEL)
        values.append(session.run([OUTPUT_NAME], {INPUT_NAME: x})[0])
    every = np.concatenate(values)
    assert every.shape[1] == 2 and np.isfinite(every).all()
    assert (every > 1.0).all() and (every < 9.0).all()  # 1 + 8 P, P strictly inside 0..1
    assert np.ptp(every, axis=0).min() > 1e-3  # the music matters
