"""Audio devices through PortAudio (the ``sounddevice`` module): listing them, resolving the
microphone to open, how to get one, and blocking playback of a file on the default output."""

from __future__ import annotations

import platform

import numpy as np

from emotrack.models.audio import to_mono
from emotrack.models.errors import UserError


def sounddevice_module():
    """The sounddevice module, or UserError naming the missing PortAudio library."""
    try:
        import sounddevice
    except (OSError, ImportError):
        raise UserError(
            "audio devices need the PortAudio library, which is not installed; "
            "install it (Debian/Ubuntu: apt-get install libportaudio2) or track files instead"
        ) from None
    return sounddevice


def list_devices() -> list[dict]:
    """Every audio device PortAudio sees: index, name, inputs, outputs, default rate, default."""
    sd = sounddevice_module()
    default_in, default_out = sd.default.device
    return [
        {
            "index": index,
            "name": info["name"],
            "inputs": info["max_input_channels"],
            "outputs": info["max_output_channels"],
            "rate": int(round(info["default_samplerate"])),
            "default_input": index == default_in,
            "default_output": index == default_out,
        }
        for index, info in enumerate(sd.query_devices())
    ]


def how_to_get_input(system: str | None = None) -> str:
    """How to give PortAudio an input device on this kind of system."""
    system = system or platform.system()
    if system == "Linux":
        return (
            "plug one in, then make sure a sound server runs (PulseAudio: `pulseaudio --start`; "
            "PipeWire: `systemctl --user start pipewire pipewire-pulse`) with ALSA's pulse "
            "plugin installed (Debian/Ubuntu: apt-get install libasound2-plugins), or that ALSA "
            "lists a capture device (`arecord -l`); in a container, pass the host's sound "
            "server or /dev/snd in; then `emotrack live --list-devices`"
        )
    if system == "Darwin":
        return (
            "plug one in and allow your terminal to use it (System Settings > Privacy & "
            "Security > Microphone); then `emotrack live --list-devices`"
        )
    if system == "Windows":
        return (
            "plug one in and allow desktop apps to use it (Settings > Privacy & security > "
            "Microphone); then `emotrack live --list-devices`"
        )
    return "plug one in; then `emotrack live --list-devices`"


def resolve_input_device(device: int | str | None) -> tuple[int, dict]:
    """Index and PortAudio info of an input device (None: the default input), or UserError."""
    sd = sounddevice_module()
    hint = "list them with `emotrack live --list-devices`"
    inputs = [d for d in list_devices() if d["inputs"] > 0]
    if not inputs:
        raise UserError(
            f"no microphone found: PortAudio sees no input device; {how_to_get_input()}"
        )
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    if device is None:
        default = next((d for d in inputs if d["default_input"]), inputs[0])
        device = default["index"]
    elif isinstance(device, str):
        matches = [d for d in inputs if device.lower() in d["name"].lower()]
        if len(matches) != 1:
            found = "no" if not matches else "several"
            raise UserError(f"{found} input device matches {device!r}; {hint}")
        device = matches[0]["index"]
    if device not in {d["index"] for d in inputs}:
        raise UserError(f"no input device {device}; {hint}")
    return device, sd.query_devices(device)


class Output:
    """Blocking playback of a file's blocks, at the file's own rate."""

    def __init__(self, stream, channels: int, device_name: str) -> None:
        self._stream, self.channels, self.device_name = stream, channels, device_name

    def write(self, data: np.ndarray) -> None:
        if data.shape[1] != self.channels:
            data = to_mono(data)[:, None]
        self._stream.write(np.clip(data, -1.0, 1.0))

    def pause(self) -> None:
        self._stream.stop()

    def resume(self) -> None:
        self._stream.start()

    def close(self) -> None:
        try:
            self._stream.close()
        except Exception:  # the device may already be gone; nothing left to release
            pass


def open_output(rate: int, channels: int) -> Output | None:
    """Playback stream on the default output device, or None when there is none."""
    try:
        sd = sounddevice_module()
        device = sd.default.device[1]
        if device is None or device < 0:
            return None
        name = sd.query_devices(device)["name"]
        stream = sd.OutputStream(samplerate=rate, channels=channels, dtype="float32")
        stream.start()
    except Exception:  # no device, or it refuses this rate: pace by the clock instead
        return None
    return Output(stream, channels, name)
