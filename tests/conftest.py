"""Fixtures for every test folder: audio files in the formats libsndfile cannot read, written
with FFmpeg (PyAV, whose wheels bundle it), and damaged MP3s."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

# name -> (container format, audio codec, video codec or None)
FFMPEG_FORMATS = {
    "song.m4a": ("mp4", "aac", None),
    "alac.m4a": ("mp4", "alac", None),
    "song.opus": ("ogg", "libopus", None),
    "song.wma": ("asf", "wmav2", None),
    "video.mp4": ("mp4", "aac", "mpeg4"),
    "song.webm": ("webm", "libopus", "libvpx"),
}


def tone_song(seconds: float, rate: int, channels: int = 2, hz: float = 330.0) -> np.ndarray:
    """(frames, channels) float32: a tone with a slow swell and a 2 Hz pulse."""
    t = np.arange(int(round(seconds * rate))) / rate
    mono = 0.4 * (0.5 + 0.5 * np.sin(2 * np.pi * t / 7.0)) * np.sin(2 * np.pi * hz * t)
    mono *= 0.6 + 0.4 * (np.sin(2 * np.pi * 2.0 * t) > 0)
    return np.stack([mono * (1 - 0.05 * c) for c in range(channels)], axis=1).astype(np.float32)


def write_ffmpeg(path: Path, audio: np.ndarray, rate: int, fmt: str, codec: str, video=None):
    """Encode (frames, channels) float audio with FFmpeg; ``video`` adds a small video track."""
    import av

    layout = "stereo" if audio.shape[1] == 2 else "mono"
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=48_000 if codec == "libopus" else rate, layout=layout)
        stream.bit_rate = 128_000
        picture = None
        if video is not None:
            picture = out.add_stream(video, rate=10)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=stream.rate)
        block = 1024
        pts = 0
        for start in range(0, len(audio), block):
            chunk = np.ascontiguousarray(audio[start : start + block].T)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
            pts += chunk.shape[1]
            for piece in resampler.resample(frame):
                out.mux(stream.encode(piece))
        for piece in resampler.resample(None):
            out.mux(stream.encode(piece))
        out.mux(stream.encode(None))
        if picture is not None:
            for i in range(int(len(audio) / rate * 10)):
                image = np.full((48, 64, 3), (i * 5) % 255, np.uint8)
                vf = av.VideoFrame.from_ndarray(image, format="rgb24")
                vf.pts = i
                out.mux(picture.encode(vf))
            out.mux(picture.encode(None))
    return path


@pytest.fixture(scope="session")
def ffmpeg_songs(tmp_path_factory) -> dict[str, Path]:
    """12 s of the tone song, 44.1 kHz stereo, in every FFMPEG_FORMATS entry."""
    folder = tmp_path_factory.mktemp("ffmpeg")
    audio = tone_song(12.0, 44_100)
    return {
        name: write_ffmpeg(folder / name, audio, 44_100, fmt, codec, video)
        for name, (fmt, codec, video) in FFMPEG_FORMATS.items()
    }


def write_mp3(path: Path, audio: np.ndarray, rate: int) -> Path:
    """A real MP3 (LAME through FFmpeg)."""
    return write_ffmpeg(path, audio, rate, "mp3", "libmp3lame")


@pytest.fixture(scope="session")
def damaged_mp3s(tmp_path_factory) -> dict[str, Path]:
    """60 s MP3s: whole, cut at 30 s (truncated), and with 2 s of garbage at 20 s (damaged)."""
    folder = tmp_path_factory.mktemp("damaged")
    whole = write_mp3(folder / "whole.mp3", tone_song(60.0, 44_100), 44_100)
    data = whole.read_bytes()
    cut = folder / "truncated.mp3"
    cut.write_bytes(data[: len(data) // 2 + 101])  # mid-frame, as a broken download ends
    bytes_per_second = len(data) / 60.0
    at, width = int(20 * bytes_per_second), int(2 * bytes_per_second)
    garbage = np.random.default_rng(0).integers(0, 256, width, np.uint8).tobytes()
    damaged = folder / "damaged.mp3"
    damaged.write_bytes(data[:at] + garbage + data[at + width :])
    return {"whole": whole, "truncated": cut, "damaged": damaged}
