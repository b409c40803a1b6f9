"""Fixtures for tests/library: a small real model (PyTorch run folder + its ONNX export) and
libraries of generated songs (real MP3 through LAME, WAV, FLAC, OGG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emotrack.models.emotion import (
    LabelScale,
    ModelConfig,
    atomic_save,
    build_model,
    checkpoint_dict,
)
from emotrack.offline.synth_writer import encode_mp3

RATE = 22_050


@pytest.fixture(scope="session")
def cnn_run(tmp_path_factory) -> Path:
    """A run folder with a small CNN (random weights, fixed seed) and its model.onnx."""
    from emotrack.offline.export import export_onnx

    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="cnn"), LabelScale((0.1, -0.05), (0.4, 0.5)))
    run = tmp_path_factory.mktemp("run")
    atomic_save(checkpoint_dict(model), run / "best.pt")
    assert export_onnx(run).ok
    return run


@pytest.fixture(scope="session")
def onnx_model(cnn_run) -> Path:
    return cnn_run / "model.onnx"


def tone(seconds: float, hz: float, rate: int = RATE, channels: int = 2) -> np.ndarray:
    """(frames, channels) float32: a tone with a slow swell and a 2 Hz pulse."""
    t = np.arange(int(round(seconds * rate))) / rate
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * t / 7.0)
    beat = 0.6 + 0.4 * (np.sin(2 * np.pi * 2.0 * t) > 0)
    mono = 0.4 * swell * beat * np.sin(2 * np.pi * hz * t)
    return np.stack([mono * (1 - 0.05 * c) for c in range(channels)], axis=1).astype(np.float32)


def write_song(path: Path, seconds: float = 8.0, hz: float = 330.0) -> Path:
    """A song file; the format follows the suffix (.mp3 through LAME, else libsndfile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = tone(seconds, hz)
    if path.suffix == ".mp3":
        path.write_bytes(encode_mp3(audio, RATE))
    else:
        sf.write(path, audio, RATE)
    return path


@pytest.fixture
def library(tmp_path) -> Path:
    """A small library: 4 songs in two folders, formats mixed."""
    root = tmp_path / "music"
    write_song(root / "album a" / "01 one.mp3", 8.0, 220.0)
    write_song(root / "album a" / "02 two.wav", 6.5, 330.0)
    write_song(root / "album b" / "03 three.flac", 9.0, 440.0)
    write_song(root / "album b" / "04 four.ogg", 7.0, 550.0)
    return root
