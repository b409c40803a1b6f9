"""The shared front end: decoding, resampling, windowing, log-mel images, SpecAugment."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch

from emotrack.models import audio
from emotrack.models.audio import (
    CNN_MEL,
    MEL_IMAGE,
    WAVEFORM,
    AudioConfig,
    AudioError,
    FrontEnd,
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
    hop = window_starts(n, MEL_IMAGE, hop_seconds=0.5)
    assert hop[1] == 8_000 and hop[-1] + MEL_IMAGE.window_samples <= n
    assert len(hop) == 81  # (45 - 5) / 0.5 + 1
    with pytest.raises(ValueError):
        window_starts(n, MEL_IMAGE)


def test_short_audio_gives_one_zero_padded_window():
    x = np.ones(16_000, dtype=np.float32)
    starts = window_starts(len(x), MEL_IMAGE, hop_seconds=0.5)
    windows = frame_windows(x, starts, MEL_IMAGE)
    assert windows.shape == (1, MEL_IMAGE.window_samples)
    assert windows[0, :16_000].sum() == 16_000 and windows[0, 16_000:].sum() == 0


@pytest.mark.parametrize("config", [MEL_IMAGE, CNN_MEL, audio.AST_MEL, WAVEFORM])
def test_front_end_shapes_and_finiteness(config):
    front = FrontEnd(config)
    rng = np.random.default_rng(1)
    windows = np.stack(
        [
            np.zeros(config.window_samples),  # silence
            1e-9 * rng.standard_normal(config.window_samples),  # near-silence
            np.full(config.window_samples, np.nan),  # NaN
            0.3 * rng.standard_normal(config.window_samples),
        ]
    ).astype(np.float32)
    out = front(torch.from_numpy(windows))
    assert out.shape == (4, *config.input_shape)
    assert torch.isfinite(out).all()
    assert torch.equal(front.from_features(front.features(torch.from_numpy(windows))), out)


def test_log_mel_is_standardised_per_window_and_independent_of_batch():
    front = FrontEnd(MEL_IMAGE)
    rng = np.random.default_rng(2)
    loud = 0.9 * rng.standard_normal((1, 80_000)).astype(np.float32)
    quiet = 0.001 * rng.standard_normal((1, 80_000)).astype(np.float32)
    both = front.log_mel(torch.from_numpy(np.concatenate([loud, quiet])))
    alone = front.log_mel(torch.from_numpy(quiet))
    torch.testing.assert_close(both[1:], alone, atol=1e-4, rtol=1e-4)
    assert both.mean(dim=(1, 2)).abs().max() < 1e-4
    assert torch.allclose(both.std(dim=(1, 2), unbiased=False), torch.ones(2), atol=1e-3)


def test_spectrogram_follows_pitch():
    front = FrontEnd(CNN_MEL)
    low = front.log_mel(torch.from_numpy(tone(200, 5.0, 16_000))[None])
    high = front.log_mel(torch.from_numpy(tone(3_000, 5.0, 16_000))[None])
    assert low[0].mean(dim=1).argmax() < high[0].mean(dim=1).argmax()


def test_config_key_changes_with_any_parameter_and_round_trips():
    keys = {MEL_IMAGE.key()}
    for field, value in [("n_fft", 1024), ("hop_length", 256), ("n_mels", 128), ("top_db", 60.0)]:
        keys.add(replace(MEL_IMAGE, **{field: value}).key())
    assert len(keys) == 5
    assert AudioConfig.from_dict(MEL_IMAGE.to_dict()) == MEL_IMAGE
    assert MEL_IMAGE.differences(CNN_MEL)
    with pytest.raises(ValueError, match="unknown audio parameters"):
        AudioConfig.from_dict({**MEL_IMAGE.to_dict(), "colour": 1})


def test_spec_augment_masks_training_input_only():
    x = torch.randn(3, 64, 157)
    generator = torch.Generator().manual_seed(0)
    y = audio.spec_augment(x, generator, max_freq_width=10, max_time_width=10)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert (y == 0).any() and not (x == 0).any()  # input untouched
    changed = (y != x).float().mean()
    assert 0 < changed < 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("config", [MEL_IMAGE, CNN_MEL])
def test_gpu_front_end_gives_the_cpu_numbers(config):
    windows = torch.from_numpy(
        0.3 * np.random.default_rng(3).standard_normal((8, config.window_samples))
    ).float()
    cpu = FrontEnd(config)(windows)
    gpu = FrontEnd(config).cuda()(windows.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=2e-3, rtol=1e-3)


def test_macos_resource_fork_beside_the_file_is_ignored(tmp_path):
    sf.write(tmp_path / "3.mp3", tone(440, 1.0, 44_100), 44_100, format="MP3")
    (tmp_path / "._3.mp3").write_bytes(b"\x00\x05\x16\x07" + bytes(200))  # AppleDouble junk
    assert audio.audio_info(tmp_path / "3.mp3").samplerate == 44_100
    assert len(load_audio(tmp_path / "3.mp3")) > 15_000
