"""Decoding what libsndfile cannot (through FFmpeg), and damaged or truncated files: real
files written by FFmpeg (PyAV) and LAME in tests/conftest.py."""

from __future__ import annotations

import numpy as np
import pytest

from emotrack.models.audio import AUDIO_EXTENSIONS, load_audio
from emotrack.models.decode import AudioReader, audio_info, decode_audio
from emotrack.models.errors import AudioError


@pytest.mark.parametrize("name", ["song.m4a", "alac.m4a", "song.opus", "song.wma", "video.mp4",
                                  "song.webm"])  # fmt: skip
def test_every_common_format_decodes_whole_and_in_blocks(ffmpeg_songs, name):
    path = ffmpeg_songs[name]
    assert path.suffix in AUDIO_EXTENSIONS
    info = audio_info(path)
    assert info.channels == 2 and abs(info.duration - 12.0) < 0.1
    samples, rate, report = decode_audio(path)
    assert abs(len(samples) / rate - 12.0) < 0.1 and report.problems() == []
    rms = np.sqrt(np.mean(samples**2))
    assert 0.1 < rms < 0.4  # the tone came through, not silence or noise
    blocks = list(AudioReader(path).blocks(4096))
    assert np.array_equal(np.concatenate(blocks), samples)  # block-wise = whole
    mono = load_audio(path)
    assert abs(len(mono) / 16_000 - 12.0) < 0.1


def test_libsndfile_stays_first_where_it_reads(ffmpeg_songs, mp3_like):
    assert audio_info(mp3_like).decoder == "libsndfile"
    assert audio_info(ffmpeg_songs["song.m4a"]).decoder == "ffmpeg"


@pytest.fixture
def mp3_like(damaged_mp3s):
    return damaged_mp3s["whole"]


def test_a_damaged_mp3_decodes_past_the_damage_and_says_how_much_was_lost(damaged_mp3s):
    samples, rate, report = decode_audio(damaged_mp3s["damaged"])
    assert len(samples) / rate > 55.0  # libsndfile alone stopped at the damage (20 s)
    problems = " ".join(report.problems())
    assert "damaged:" in problems and "undecodable packets skipped" in problems
    assert "FFmpeg decoded" in problems


def test_a_truncated_mp3_is_reported(damaged_mp3s):
    samples, rate, report = decode_audio(damaged_mp3s["truncated"])
    assert 29.0 < len(samples) / rate < 31.0
    assert report.truncated
    assert report.problems() == [
        "truncated: the audio ends at 30.0 s of the 60.0 s its header states"
    ]


def test_a_whole_mp3_has_no_problems(damaged_mp3s):
    _, _, report = decode_audio(damaged_mp3s["whole"])
    assert report.problems() == []


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "not readable audio"),
        (b"lyrics, not audio\n" * 100, "not readable audio"),
        (b"RIFF" + bytes(range(256)) * 30, "not readable audio"),
    ],
)
def test_unreadable_files_get_one_line_without_python_reprs(tmp_path, content, says):
    path = tmp_path / "bad.m4a"
    path.write_bytes(content)
    with pytest.raises(AudioError) as caught:
        decode_audio(path)
    message = str(caught.value)
    assert says in message and str(path) in message and "M4A" in message
    assert "<" not in message and "object at 0x" not in message and "\n" not in message


def test_a_video_without_sound_is_named(tmp_path):
    import av

    path = tmp_path / "silent-film.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(AudioError, match="holds no audio stream"):
        audio_info(path)
