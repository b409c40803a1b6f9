"""Audio parameters, decoding, resampling and windowing."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from emotrack.models import audio
from emotrack.models.audio import (
    CNN_MEL,
    MEL_IMAGE,
    AudioConfig,
    AudioError,
    StreamResampler,
    frame_windows,
    load_audio,
    window_starts,
)


def tone(freq: float, seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


def dominant_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize(
    "fmt, ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")]
)
def test_decodes_each_format_to_16k_mono(tmp_path, fmt, ext):
    path = tmp_path / f"tone.{ext}"
    sf.write(path, tone(440, 2.0, 44_100, channels=2), 44_100, format=fmt)
    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - 32_000) < 1_200  # MP3 adds encoder padding
    assert dominant_frequency(x, 16_000) == pytest.approx(440, abs=3)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000, 96_000])
@pytest.mark.parametrize("channels", [1, 2, 8])
def test_any_rate_and_channel_count(tmp_path, rate, channels):
    path = tmp_path / "x.wav"
    sf.write(path, tone(1_000, 1.0, rate, channels), rate)
    x = load_audio(path)
    assert len(x) == pytest.approx(16_000, abs=2)
    assert dominant_frequency(x, 16_000) == pytest.approx(1_000, abs=3)
    assert np.abs(x).max() == pytest.approx(0.5, abs=0.02)  # channels averaged, not summed


def test_offset_and_duration(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, np.linspace(-1, 1, 16_000 * 4, dtype=np.float32), 16_000)
    x = load_audio(path, offset_seconds=1.0, duration_seconds=2.0)
    assert len(x) == 32_000
    assert x[0] == pytest.approx(-1 + 2 * 16_000 / (64_000 - 1), abs=1e-4)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "not readable audio"),
        (lambda p: p.write_text("hello, I am not audio\n" * 100), "not readable audio"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, make, words):
    path = tmp_path / "song.mp3"
    make(path)
    with pytest.raises(AudioError, match=words) as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_nan_samples_become_finite(tmp_path):
    x = tone(440, 1.0, 16_000)
    x[100:200] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, 16_000, subtype="FLOAT")
    assert np.isfinite(load_audio(path)).all()


def test_stream_resampler_matches_whole_file():
    x = np.random.default_rng(0).standard_normal(44_100 * 3).astype(np.float32)
    whole = audio.resample(x, 44_100)
    stream = StreamResampler(44_100)
    blocks = [stream(b, last=False) for b in np.array_split(x, 7)] + [stream(x[:0], last=True)]
    joined = np.concatenate(blocks)
    n = min(len(whole), len(joined))
    assert abs(len(whole) - len(joined)) <= 2
    np.testing.assert_allclose(joined[100 : n - 100], whole[100 : n - 100], atol=1e-5)


def test_training_windows_are_evenly_spaced_and_tracking_windows_hop():
    n = 45 * 16_000
    starts = window_starts(n, MEL_IMAGE, count=6)
    assert len(starts) == 6 and starts[0] == 0 and starts[-1] == n - MEL_IMAGE.window_samples
    assert np.allclose(np.diff(starts), np.diff(starts)[0], atol=1)
    hop = window_starts(n, MEL_IMAGE, step_seconds=0.5)
    assert hop[1] == 8_000 and hop[-1] + MEL_IMAGE.window_samples <= n
    assert len(hop) == 81  # (45 - 5) / 0.5 + 1
    with pytest.raises(ValueError):
        window_starts(n, MEL_IMAGE)


def test_short_audio_gives_one_zero_padded_window():
    x = np.ones(16_000, dtype=np.float32)
    starts = window_starts(len(x), MEL_IMAGE, step_seconds=0.5)
    windows = frame_windows(x, starts, MEL_IMAGE)
    assert windows.shape == (1, MEL_IMAGE.window_samples)
    assert windows[0, :16_000].sum() == 16_000 and windows[0, 16_000:].sum() == 0


def test_config_key_changes_with_any_parameter_and_round_trips():
    keys = {MEL_IMAGE.key()}
    for field, value in [("n_fft", 1024), ("hop_length", 256), ("n_mels", 128), ("top_db", 60.0)]:
        keys.add(replace(MEL_IMAGE, **{field: value}).key())
    assert len(keys) == 5
    assert AudioConfig.from_dict(MEL_IMAGE.to_dict()) == MEL_IMAGE
    assert MEL_IMAGE.differences(CNN_MEL)
    with pytest.raises(ValueError, match="unknown audio parameters"):
        AudioConfig.from_dict({**MEL_IMAGE.to_dict(), "colour": 1})


def test_macos_resource_fork_beside_the_file_is_ignored(tmp_path):
    sf.write(tmp_path / "3.mp3", tone(440, 1.0, 44_100), 44_100, format="MP3")
    (tmp_path / "._3.mp3").write_bytes(b"\x00\x05\x16\x07" + bytes(200))  # AppleDouble junk
    assert audio.audio_info(tmp_path / "3.mp3").samplerate == 44_100
    assert len(load_audio(tmp_path / "3.mp3")) > 15_000


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_to_mono_averages_the_channels_and_leaves_its_input_alone(channels):
    samples = np.random.default_rng(channels).standard_normal((4_000, channels))
    samples = samples.astype(np.float32)
    before = samples.copy()
    mono = audio.to_mono(samples)
    assert mono.dtype == np.float32 and mono.shape == (4_000,) and mono.flags.c_contiguous
    np.testing.assert_allclose(mono, samples.mean(axis=1), rtol=0, atol=1e-6)
    if channels <= 2:  # the same bits as numpy's mean
        np.testing.assert_array_equal(mono, samples.mean(axis=1))
    np.testing.assert_array_equal(samples, before)
    ints = (samples * 1000).astype(np.int16)
    np.testing.assert_allclose(audio.to_mono(ints), ints.mean(axis=1), atol=1e-3)
