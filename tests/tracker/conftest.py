"""Fixtures for tests/tracker: small real models (PyTorch and ONNX), generated audio files,
and a real PulseAudio server that PortAudio (through ALSA's pulse plugin) records from.

The PulseAudio server runs as the current user with its socket in a temporary folder. Its
default input (the "microphone") is the monitor of a null sink into which ``module-sine``
plays 440 Hz at amplitude 0.5 (``module-sine-source`` delivers in 2 s bursts, no microphone
does that); its default output is another null sink. ``PULSE_SERVER`` points clients at it and
sounddevice re-scans its devices; nothing is written outside the temporary folder. Needs the
Debian packages libportaudio2, pulseaudio, pulseaudio-utils and libasound2-plugins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
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
from emotrack.tracker.engine import Engine

SINE_HZ = 440  # the PulseAudio "microphone": amplitude 0.5, RMS -9.03 dBFS
SINE_DB = 20 * np.log10(0.5 / np.sqrt(2))
SINE_RATE = 48_000
PULSE_PACKAGES = "libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins"


# ---------------------------------------------------------------------------- models


@pytest.fixture(scope="session")
def cnn_run(tmp_path_factory) -> Path:
    """A training run folder holding a small CNN's best.pt (random weights, fixed seed) and
    its ONNX export (model.onnx), made as users make them."""
    from emotrack.offline.export import export_onnx

    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="cnn"), LabelScale((0.1, -0.05), (0.4, 0.5)))
    run = tmp_path_factory.mktemp("run")
    atomic_save(checkpoint_dict(model), run / "best.pt")
    result = export_onnx(run)
    assert result.ok, result
    return run


@pytest.fixture(scope="session")
def torch_engine(cnn_run) -> Engine:
    return Engine.load(cnn_run, device="cpu", backend="torch")


@pytest.fixture(scope="session")
def onnx_engine(cnn_run) -> Engine:
    return Engine.load(cnn_run / "model.onnx", device="cpu")


# ---------------------------------------------------------------------------- audio


def write_song(
    path: Path,
    seconds: float,
    rate: int = 22_050,
    channels: int = 2,
    subtype: str | None = None,
    hz: float = 330.0,
) -> Path:
    """A tone with a slow swell and a 2 Hz pulse (every window differs), any layout."""
    t = np.arange(int(round(seconds * rate))) / rate
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * t / 7.0)
    beat = 0.6 + 0.4 * (np.sin(2 * np.pi * 2.0 * t) > 0)
    mono = 0.4 * swell * beat * np.sin(2 * np.pi * hz * t)
    data = np.stack([mono * (1 - 0.05 * c) for c in range(channels)], axis=1)
    sf.write(path, data.astype(np.float32), rate, subtype=subtype)
    return path


@pytest.fixture
def make_song(tmp_path):
    """make_song(name, seconds, **layout) -> path of a song written into tmp_path."""

    def make(name: str, seconds: float, **layout) -> Path:
        return write_song(tmp_path / name, seconds, **layout)

    return make


@pytest.fixture(scope="session")
def song(tmp_path_factory) -> Path:
    """12 s of stereo 22.05 kHz WAV."""
    return write_song(tmp_path_factory.mktemp("audio") / "song.wav", 12.0)


@pytest.fixture(scope="session")
def mp3_song(tmp_path_factory) -> Path:
    """9 s of real MP3 (libsndfile's encoder), 44.1 kHz stereo."""
    return write_song(tmp_path_factory.mktemp("audio") / "song.mp3", 9.0, rate=44_100)


# ---------------------------------------------------------------------------- PulseAudio


@dataclass
class PulseServer:
    process: subprocess.Popen
    folder: Path
    sine_hz: float = SINE_HZ  # what its default input "hears"
    sine_db: float = SINE_DB  # RMS dBFS of that

    @property
    def address(self) -> str:
        return f"unix:{self.folder / 'native'}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_pulse(folder: Path) -> PulseServer:
    """A private PulseAudio server: sine source (default input), null sink (default output)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(folder), HOME=str(folder))
    env.pop("PULSE_SERVER", None)
    command = [
        "pulseaudio",
        "--daemonize=no",
        "--exit-idle-time=-1",
        "--use-pid-file=no",
        "--disable-shm=yes",
        "-n",  # no default.pa: only the modules below
        "-L",
        f"module-native-protocol-unix auth-anonymous=1 socket={folder / 'native'}",
        "-L",
        "module-null-sink sink_name=speakers rate=44100",
        "-L",
        f"module-null-sink sink_name=mic rate={SINE_RATE}",
        "-L",
        f"module-sine sink=mic frequency={SINE_HZ}",
    ]
    log = open(folder / "pulse.log", "wb")  # noqa: SIM115 - the server owns it until it exits
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = PulseServer(process, folder)
    deadline = time.monotonic() + 10
    while not (folder / "native").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"pulseaudio did not start: {(folder / 'pulse.log').read_text()}")
        time.sleep(0.05)
    for setting in (["set-default-sink", "speakers"], ["set-default-source", "mic.monitor"]):
        subprocess.run(
            ["pactl", "--server", server.address, *setting], check=True, capture_output=True
        )
    return server


def point_portaudio_at(address: str | None) -> None:
    """Make PortAudio (ALSA's pulse plugin) use ``address`` and re-scan the devices."""
    import sounddevice as sd

    if address is None:
        os.environ.pop("PULSE_SERVER", None)
    else:
        os.environ["PULSE_SERVER"] = address
    sd._terminate()
    sd._initialize()


def _need_pulse() -> None:
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        pytest.skip(f"pulseaudio is not installed (apt-get install {PULSE_PACKAGES})")
    try:
        import sounddevice  # noqa: F401
    except OSError:
        pytest.skip(f"the PortAudio library is not installed (apt-get install {PULSE_PACKAGES})")


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    """A running PulseAudio server that PortAudio uses for one test module (other modules
    keep seeing this machine's own devices: none on a CI runner)."""
    _need_pulse()
    server = start_pulse(tmp_path_factory.mktemp("pulse"))
    previous = os.environ.get("PULSE_SERVER")
    point_portaudio_at(server.address)
    import sounddevice as sd

    if sd.default.device[0] < 0:
        server.stop()
        point_portaudio_at(previous)
        raise RuntimeError(
            "PulseAudio runs but PortAudio sees no input: ALSA's pulse plugin is missing "
            f"(apt-get install {PULSE_PACKAGES})"
        )
    yield server
    server.stop()
    point_portaudio_at(previous)


@pytest.fixture
def fresh_pulse(tmp_path, pulse):
    """A second server of one test's own (e.g. to kill it mid-stream, like an unplugged
    microphone); PortAudio goes back to the session's server afterwards."""
    server = start_pulse(tmp_path / "pulse")
    point_portaudio_at(server.address)
    yield server
    server.stop()
    point_portaudio_at(pulse.address)


@pytest.fixture
def no_audio_devices(tmp_path):
    """PortAudio with no sound server and no sound card (skips on machines with real cards)."""
    _need_pulse()
    import sounddevice as sd

    previous = os.environ.get("PULSE_SERVER")
    point_portaudio_at(f"unix:{tmp_path / 'nothing-here'}")
    if len(sd.query_devices()) > 0:
        point_portaudio_at(previous)
        pytest.skip("this machine has real audio devices")
    yield
    point_portaudio_at(previous)
