"""Sources: files streamed in blocks (paced, played, or fast) and a real PortAudio
microphone through PulseAudio."""

from __future__ import annotations

import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emotrack.models.audio import SAMPLE_RATE, AudioError
from emotrack.models.errors import UserError
from emotrack.tracker.audio_devices import list_devices, resolve_input_device
from emotrack.tracker.file_source import FileSource
from emotrack.tracker.mic_source import MicSource
from emotrack.tracker.ring import RingBuffer


class Collector:
    """A reader that takes every new sample out of the ring and releases it (as the
    tracker does), keeping the audio (or only counting it)."""

    def __init__(self, source, keep: bool = True, capacity: int = 20 * SAMPLE_RATE) -> None:
        self.ring = RingBuffer(capacity)
        self.source, self.keep = source, keep
        self.chunks: list[np.ndarray] = []
        self.count = 0
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> Collector:
        self.source.start(self.ring)
        self._thread.start()
        return self

    def _read(self) -> None:
        while True:
            closed = self.ring.closed
            written = self.ring.written
            if written > self.count:
                if self.keep:
                    self.chunks.append(self.ring.read(written, written - self.count))
                self.count = written
                self.ring.release(written)
            elif closed:
                return
            else:
                self.ring.wait_for(self.count + 1, timeout=0.05)

    def join(self, timeout: float = 60) -> Collector:
        self._thread.join(timeout)
        assert not self._thread.is_alive()
        return self

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)


def peak_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(audio))


def rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(audio, dtype=np.float64))))


# ---------------------------------------------------------------------------- files


def test_a_long_file_is_streamed_in_blocks_never_loaded_whole(tmp_path):
    path = tmp_path / "four-minutes.wav"
    rate, minute = 22_050, np.sin(np.arange(22_050 * 60) * 0.05).astype(np.float32) * 0.3
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as handle:
        for _ in range(4):
            handle.write(minute)
    whole_mb = 240 * SAMPLE_RATE * 4 / 1e6  # the file as 16 kHz float32: 15 MB
    tracemalloc.start()
    try:
        collector = Collector(FileSource(path, realtime=False), keep=False).start().join()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert abs(collector.count - 240 * SAMPLE_RATE) <= 2
    assert peak / 1e6 < whole_mb / 4, f"peak {peak / 1e6:.1f} MB: the file was not streamed"


def test_real_time_takes_real_time_and_fast_does_not(make_song):
    path = make_song("three.wav", 3.0)
    began = time.monotonic()
    paced = FileSource(path, realtime=True, play=False, min_seconds=1)
    collector = Collector(paced).start()
    time.sleep(1.0)
    heard_after_one_second = paced.status().position_s
    collector.join()
    paced_seconds = time.monotonic() - began
    assert 0.6 <= heard_after_one_second <= 1.5  # audio arrives gradually, not at once
    assert 2.9 <= paced_seconds <= 4.5
    assert paced.status().note == "paced by the clock"

    began = time.monotonic()
    fast = Collector(FileSource(path, realtime=False, min_seconds=1)).start().join()
    assert time.monotonic() - began < 1.0
    np.testing.assert_allclose(fast.audio, collector.audio, atol=1e-6)  # same audio either way


def test_playback_paces_a_file_through_the_sound_card(pulse, make_song):
    path = make_song("two.wav", 2.0, rate=44_100)
    source = FileSource(path, realtime=True, play=True, min_seconds=1)
    began = time.monotonic()
    collector = Collector(source).start()
    collector.join()
    assert time.monotonic() - began >= 1.8
    assert source.status().note.startswith("playing on")
    assert source.status().error is None
    assert abs(collector.count - 2 * SAMPLE_RATE) <= 2


def test_losing_the_output_device_midway_hands_pacing_to_the_clock(fresh_pulse, make_song):
    path = make_song("three.wav", 3.0, rate=44_100)
    source = FileSource(path, realtime=True, play=True, min_seconds=1)
    collector = Collector(source).start()
    deadline = time.monotonic() + 15
    while source.status().position_s < 0.5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert source.status().note.startswith("playing on")
    fresh_pulse.stop()  # the sound server (the speakers) goes away mid-song
    collector.join(timeout=20)
    status = source.status()
    assert status.error is None and status.note.startswith("playback stopped")
    assert abs(collector.count - 3 * SAMPLE_RATE) <= 2  # the whole file was still tracked


def test_without_an_output_device_the_clock_paces_the_file(no_audio_devices, make_song):
    path = make_song("two.wav", 2.0)
    source = FileSource(path, realtime=True, play=True, min_seconds=1)
    began = time.monotonic()
    Collector(source).start().join()
    assert time.monotonic() - began >= 1.8
    assert source.status().note == "paced by the clock"
    assert source.status().error is None


def test_pause_stops_consuming_until_resumed(make_song):
    path = make_song("three.wav", 3.0)
    source = FileSource(path, realtime=True, play=False, min_seconds=1)
    collector = Collector(source).start()
    time.sleep(0.5)
    source.pause()
    paused_at = source.status().position_s
    time.sleep(0.8)
    assert source.status().paused
    assert source.status().position_s - paused_at <= 0.1
    source.resume()
    collector.join()
    assert abs(collector.count - 3 * SAMPLE_RATE) <= 2
    assert source.status().finished


@pytest.mark.parametrize(
    ("rate", "channels", "suffix", "subtype"),
    [
        (8_000, 1, ".wav", "PCM_16"),
        (96_000, 2, ".flac", "PCM_24"),
        (44_100, 8, ".wav", "FLOAT"),
        (44_100, 2, ".mp3", None),
    ],
    ids=["8kHz", "96kHz-flac", "8-channels", "mp3"],
)
def test_any_rate_and_channel_count_becomes_16k_mono(make_song, rate, channels, suffix, subtype):
    path = make_song(
        f"song{suffix}", 6.0, rate=rate, channels=channels, subtype=subtype, hz=1_000.0
    )
    source = FileSource(path, realtime=False)
    audio = Collector(source).start().join().audio
    assert abs(len(audio) - 6 * SAMPLE_RATE) <= (1_200 if suffix == ".mp3" else 2)
    assert abs(peak_hz(audio) - 1_000) < 5
    assert np.isfinite(audio).all() and np.abs(audio).max() < 1.0
    assert source.status().duration_s == pytest.approx(6.0, abs=0.1)
    assert source.status().level_db < 0


def test_nan_samples_become_silence(tmp_path):
    rate = 16_000
    data = np.sin(np.arange(rate * 6) * 0.2).astype(np.float32) * 0.5
    data[rate : 2 * rate] = np.nan
    data[3 * rate] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, data, rate, subtype="FLOAT")
    audio = Collector(FileSource(path, realtime=False)).start().join().audio
    assert np.isfinite(audio).all()
    assert np.all(audio[rate + 10 : 2 * rate - 10] == 0)


def _bad_files(folder: Path, make_song) -> dict[str, tuple[Path, str]]:
    """name -> (path, what the message must say)."""
    empty = folder / "empty.mp3"
    empty.write_bytes(b"")
    text = folder / "notes.wav"
    text.write_text("these are not audio samples\n" * 50)
    garbage = folder / "garbage.mp3"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    short = make_song("short.wav", 3.0)
    return {
        "missing": (folder / "nope.wav", "no such file"),
        "folder": (folder, "is a folder"),
        "empty": (empty, "not readable audio"),
        "text": (text, "not readable audio"),
        "garbage": (garbage, "not readable audio"),
        "short": (short, "at least 5 s"),
    }


@pytest.mark.parametrize("case", ["missing", "folder", "empty", "text", "garbage", "short"])
def test_unusable_files_are_refused_with_the_file_and_the_fix(tmp_path, make_song, case):
    path, says = _bad_files(tmp_path, make_song)[case]
    with pytest.raises(AudioError) as error:
        FileSource(path)
    assert str(path) in str(error.value) and says in str(error.value)


# ---------------------------------------------------------------------------- microphone


def test_microphone_hears_the_sine_at_16k(pulse):
    devices = list_devices()
    default = [d for d in devices if d["default_input"]]
    assert default and default[0]["inputs"] > 0
    source = MicSource()
    assert source.rate == default[0]["rate"]  # opened at the device's own rate
    collector = Collector(source).start()
    deadline = time.monotonic() + 15
    while source.status().position_s < 1.5 and time.monotonic() < deadline:
        time.sleep(0.05)
    status = source.status()
    source.stop()
    collector.join()
    audio = collector.audio[-SAMPLE_RATE:]
    assert status.kind == "microphone" and status.error is None and status.overflows == 0
    assert len(audio) == SAMPLE_RATE
    assert abs(peak_hz(audio) - pulse.sine_hz) < 3
    assert rms_db(audio) == pytest.approx(pulse.sine_db, abs=1.0)
    assert status.level_db == pytest.approx(pulse.sine_db, abs=1.5)


def test_microphone_by_name_and_missing_devices(pulse):
    index, info = resolve_input_device("pulse")
    assert info["name"] == "pulse" and info["max_input_channels"] > 0
    with pytest.raises(UserError, match=r"no input device 99; .*--list-devices"):
        MicSource(99)
    with pytest.raises(UserError, match=r"no input device matches 'no-such-mic'"):
        MicSource("no-such-mic")


def test_no_microphone_at_all_is_a_clear_error(no_audio_devices):
    with pytest.raises(UserError, match="no microphone found.*PulseAudio.*PipeWire.*arecord -l"):
        MicSource()


def test_unplugged_microphone_is_reported_and_its_audio_kept(fresh_pulse):
    source = MicSource()
    collector = Collector(source).start()
    deadline = time.monotonic() + 15
    while source.status().position_s < 0.5 and time.monotonic() < deadline:
        time.sleep(0.05)
    fresh_pulse.stop()  # the sound server (the "device") goes away mid-stream
    collector.join(timeout=15)
    status = source.status()
    assert status.finished
    assert "microphone" in status.error and "kept" in status.error
    assert collector.count >= 0.4 * SAMPLE_RATE


def test_overflows_reported_by_portaudio_are_counted(pulse):
    import sounddevice as sd

    source = MicSource()
    overflow, fine = sd.CallbackFlags(), sd.CallbackFlags()
    overflow.input_overflow = True
    block = np.zeros((256, 1), np.float32)
    for flags in (overflow, fine, overflow):
        source._callback(block, len(block), None, flags)
    assert source.status().overflows == 2


def test_portaudio_missing_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as if libportaudio2 were absent
    with pytest.raises(UserError, match="libportaudio2"):
        MicSource()


def test_the_no_microphone_advice_names_each_system_s_way():
    from emotrack.tracker.audio_devices import how_to_get_input

    assert "libasound2-plugins" in how_to_get_input("Linux")
    assert "Privacy & Security > Microphone" in how_to_get_input("Darwin")
    assert "Settings > Privacy & security" in how_to_get_input("Windows")
