"""The feature cache: FrontEnd output, keyed by every parameter, resumable, parallel == serial."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import signal
from dataclasses import fields, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from emotrack.models.audio import (
    CNN_MEL,
    WAVEFORM,
    AudioConfig,
    frame_windows,
    load_audio,
    window_starts,
)
from emotrack.models.errors import UserError
from emotrack.models.frontend import FrontEnd
from emotrack.offline import cache as cache_module
from emotrack.offline.cache import (
    FORMAT_VERSION,
    PARTIAL_SUFFIX,
    CacheError,
    Windowing,
    build_cache,
    cache_directory,
)
from emotrack.offline.synthetic import AUDIO_DIR, generate_deam

SMALL = replace(CNN_MEL, n_mels=32)  # a smaller mel front end keeps the tests fast
THREE = Windowing(count=3)


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> list[SimpleNamespace]:
    """Five real MP3 songs (one a 2015 full song, one stereo, one at 44.1 kHz), duck-typed
    clips (``key``, ``audio_path``)."""
    folder = tmp_path_factory.mktemp("deam")
    root = generate_deam(folder, n_songs=5, clip_seconds=16.0, full_songs=1, progress=False)
    paths = sorted((root / AUDIO_DIR).glob("*.mp3"))
    return sorted(
        (SimpleNamespace(key=f"deam-{p.stem}", audio_path=p) for p in paths), key=lambda s: s.key
    )


def front_end_reference(path: Path, audio: AudioConfig, windowing: Windowing):
    samples = load_audio(path, audio.sample_rate)
    kwargs = {"count": windowing.count, "step_seconds": windowing.hop_seconds}
    starts = window_starts(len(samples), audio, **kwargs)
    features = FrontEnd(audio).features(torch.from_numpy(frame_windows(samples, starts, audio)))
    return features.numpy(), starts / audio.sample_rate


@pytest.mark.parametrize(
    ("audio", "windowing"),
    [(SMALL, THREE), (SMALL, Windowing(count=None, hop_seconds=2.5)), (WAVEFORM, Windowing(2))],
)
def test_entries_are_the_front_end_output(songs, tmp_path, audio, windowing):
    cache = build_cache(songs, audio, windowing, tmp_path, workers=1, progress=False)
    assert cache.keys == [s.key for s in songs] and not cache.problems
    assert cache.directory == tmp_path / f"{audio.key()}-{windowing.key()}"
    assert sorted(p.name for p in cache.directory.glob("*.npz")) == [f"{s.key}.npz" for s in songs]
    for song in songs:
        features, starts = cache.load(song.key)
        expected, expected_starts = front_end_reference(song.audio_path, audio, windowing)
        assert features.dtype == np.float32 and features.shape == expected.shape
        np.testing.assert_allclose(features, expected, atol=1e-5)
        np.testing.assert_array_equal(starts, expected_starts)
    long = max(songs, key=lambda s: sf.info(str(s.audio_path)).duration)
    if windowing.hop_seconds:  # dense windows reach the end of a long song
        assert cache.load(long.key)[1][-1] > sf.info(str(long.audio_path)).duration - 8
    parameters = json.loads((cache.directory / "cache.json").read_text())
    assert AudioConfig.from_dict(parameters["audio"]) == audio
    assert Windowing(**parameters["windowing"]) == windowing


def test_parallel_workers_give_the_serial_result(songs, tmp_path):
    serial = build_cache(songs, SMALL, THREE, tmp_path / "serial", workers=1, progress=False)
    parallel = build_cache(songs, SMALL, THREE, tmp_path / "parallel", workers=2, progress=False)
    assert parallel.keys == serial.keys
    for key in serial.keys:
        a, b = serial.load(key), parallel.load(key)
        np.testing.assert_allclose(a[0], b[0], atol=1e-5)  # torch thread counts differ
        np.testing.assert_array_equal(a[1], b[1])


def test_every_parameter_has_its_own_folder(songs, tmp_path):
    changed = dict(representation="waveform", sample_rate=22_050, window_seconds=4.0)
    changed.update(n_fft=1024, hop_length=256, win_length=1024, n_mels=48, f_min=20.0)
    changed.update(f_max=7_000.0, top_db=60.0, image_size=128, image_channels=3)
    assert set(changed) == {f.name for f in fields(AudioConfig)}
    folders = {cache_directory(tmp_path, CNN_MEL, THREE)}
    for name, value in changed.items():
        folders.add(cache_directory(tmp_path, replace(CNN_MEL, **{name: value}), THREE))
    for windowing in (Windowing(count=4), Windowing(None, 0.5), Windowing(None, 0.25)):
        folders.add(cache_directory(tmp_path, CNN_MEL, windowing))
    assert len(folders) == 1 + len(changed) + 3

    first = build_cache(songs[:2], SMALL, THREE, tmp_path, workers=1, progress=False)
    wider = build_cache(songs[:2], replace(SMALL, n_mels=40), THREE, tmp_path, progress=False)
    assert wider.directory != first.directory
    assert wider.load(songs[0].key)[0].shape[1:] == (40, SMALL.n_frames)
    assert first.load(songs[0].key)[0].shape[1:] == (32, SMALL.n_frames)  # kept


def test_stale_entries_are_never_reused(songs, tmp_path):
    song = SimpleNamespace(key="4q-MT0000000007", audio_path=tmp_path / "MT0000000007.mp3")
    song.audio_path.write_bytes(songs[0].audio_path.read_bytes())
    cache = build_cache([song], SMALL, THREE, tmp_path / "cache", workers=1, progress=False)
    before = cache.load(song.key)[0]
    song.audio_path.write_bytes(songs[1].audio_path.read_bytes())  # the audio file changed
    cache = build_cache([song], SMALL, THREE, tmp_path / "cache", workers=1, progress=False)
    after = cache.load(song.key)[0]
    expected, _ = front_end_reference(song.audio_path, SMALL, THREE)
    np.testing.assert_allclose(after, expected, atol=1e-5)
    assert not np.allclose(before, after)

    cache.path(song.key).write_bytes(b"not the features")  # a damaged entry is recomputed
    cache = build_cache([song], SMALL, THREE, tmp_path / "cache", workers=1, progress=False)
    np.testing.assert_allclose(cache.load(song.key)[0], expected, atol=1e-5)

    info = cache.directory / "cache.json"  # a folder written by another cache format
    info.write_text(json.dumps({**json.loads(info.read_text()), "format": 0}))
    np.savez(cache.path("deam-8"), features=np.zeros(1))
    cache = build_cache([song], SMALL, THREE, tmp_path / "cache", workers=1, progress=False)
    assert not cache.path("deam-8").exists()
    assert json.loads(info.read_text())["format"] == FORMAT_VERSION
    np.testing.assert_allclose(cache.load(song.key)[0], expected, atol=1e-5)
    cache.path(song.key).unlink()
    with pytest.raises(CacheError, match="build the cache again"):
        cache.load(song.key)


def test_unusable_audio_is_reported_and_skipped(songs, tmp_path):
    garbage = tmp_path / "901.mp3"
    garbage.write_bytes(os.urandom(5000))
    truncated = tmp_path / "902.mp3"  # the header promises 16 s, the data stops after 4
    data, rate = sf.read(str(songs[0].audio_path))
    buffer = tmp_path / "full.mp3"
    sf.write(buffer, data, rate, format="MP3")
    truncated.write_bytes(buffer.read_bytes()[: buffer.stat().st_size // 4])
    bad = [
        SimpleNamespace(key="deam-901", audio_path=garbage),
        SimpleNamespace(key="deam-902", audio_path=truncated),
        SimpleNamespace(key="4q-MT0000000903", audio_path=tmp_path / "gone.mp3"),
        SimpleNamespace(key="4q-MT0000000904", audio_path=None),
    ]
    cache = build_cache(songs[:2] + bad, SMALL, THREE, tmp_path / "c", workers=2, progress=False)
    assert cache.keys == sorted(s.key for s in songs[:2])
    messages = {p.key: p.message for p in cache.problems}
    assert sorted(messages) == ["4q-MT0000000903", "4q-MT0000000904", "deam-901", "deam-902"]
    assert "901.mp3" in messages["deam-901"] and "truncated" in messages["deam-902"]
    assert "gone.mp3" in messages["4q-MT0000000903"]
    assert "no audio file" in messages["4q-MT0000000904"]
    with pytest.raises(CacheError, match="901.mp3"):
        cache.load("deam-901")
    assert isinstance(CacheError("x"), UserError)

    rerun = build_cache(songs[:2] + bad, SMALL, THREE, tmp_path / "c", workers=2, progress=False)
    assert {p.key: p.message for p in rerun.problems} == messages
    garbage.write_bytes(songs[2].audio_path.read_bytes())  # the user replaced the file
    fixed = build_cache(songs[:2] + bad, SMALL, THREE, tmp_path / "c", workers=1, progress=False)
    assert "deam-901" in fixed.keys and "deam-901" not in {p.key for p in fixed.problems}


def _build_then_die(songs, root) -> None:
    """In a child process: cache the songs, dying (SIGKILL) half-way through the third write."""
    torch.set_num_threads(1)  # as any forked worker does
    real_save, calls = cache_module._save, []

    def dying_save(path, **arrays):
        calls.append(path)
        if len(calls) == 3:
            whole = io.BytesIO()
            np.savez(whole, **arrays)
            partial = path.with_name(f".{path.name}.{os.getpid()}{PARTIAL_SUFFIX}")
            partial.write_bytes(whole.getvalue()[:1000])
            os.kill(os.getpid(), signal.SIGKILL)
        real_save(path, **arrays)

    cache_module._save = dying_save
    build_cache(songs, SMALL, THREE, root, workers=1, progress=False)


def test_a_killed_build_resumes_and_never_reads_half_files(songs, tmp_path):
    child = multiprocessing.get_context("fork").Process(
        target=_build_then_die, args=(songs, tmp_path)
    )
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    directory = cache_directory(tmp_path, SMALL, THREE)
    assert len(list(directory.glob("*.npz"))) == 2
    assert len(list(directory.glob(f".*{PARTIAL_SUFFIX}"))) == 1  # the half-written file

    cache = build_cache(songs, SMALL, THREE, tmp_path, workers=1, progress=False)
    assert cache.keys == [s.key for s in songs] and not cache.problems
    assert not list(directory.glob(f".*{PARTIAL_SUFFIX}"))
    for song in songs:
        expected, _ = front_end_reference(song.audio_path, SMALL, THREE)
        np.testing.assert_allclose(cache.load(song.key)[0], expected, atol=1e-5)


def test_an_error_while_writing_leaves_no_file_behind(songs, tmp_path, monkeypatch):
    def failing_savez(handle, **arrays):
        handle.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module.np, "savez", failing_savez)
    with pytest.raises(OSError, match="No space"):
        build_cache(songs[:1], SMALL, THREE, tmp_path, workers=1, progress=False)
    monkeypatch.undo()
    directory = cache_directory(tmp_path, SMALL, THREE)
    assert sorted(p.name for p in directory.iterdir()) == ["cache.json"]
    cache = build_cache(songs[:1], SMALL, THREE, tmp_path, workers=1, progress=False)
    assert cache.keys == [songs[0].key]


def test_windowing_is_validated():
    assert Windowing().key() == "count6" and Windowing(None, 0.5).key() == "hop0.5s"
    for bad in (
        {"count": None},
        {"count": 2, "hop_seconds": 1.0},
        {"count": 0},
        {"count": None, "hop_seconds": 0.0},
    ):
        with pytest.raises(UserError):
            Windowing(**bad)
