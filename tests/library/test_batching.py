"""Batches of windows from many songs: the device cut (the samples a batch spans, packed once
and cut into windows where the model runs) gives the windows, values and flags of the host
cut; a whole scan gives the same rows either way. Run on a CPU with the real PyTorch engine
(the code a GPU runs, there on the device)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotrack.library.batching import (
    WINDOW_SAMPLES,
    DeviceCut,
    HostCut,
    SongWindows,
    batch_runner,
    cut,
    hand_out,
    pack,
    plans,
    span_samples,
)
from emotrack.library.decode import Decoded, Task, song_flags
from emotrack.library.pipeline import Scan, ScanConfig
from emotrack.library.store import Store
from emotrack.models.audio import SAMPLE_RATE, frame_windows
from emotrack.tracker.engine import Engine
from emotrack.tracker.quality import window_flags

from .conftest import write_song

HOP = 0.5


def _song(seconds: float, seed: int, flagged: bool = True) -> SongWindows:
    rng = np.random.default_rng(seed)
    samples = (0.3 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)
    samples[: SAMPLE_RATE * 6] = 0.0  # six silent seconds: windows flagged silent
    decoded = Decoded(f"song{seed}", samples=samples, duration=seconds)
    if flagged:
        decoded.flags = song_flags(samples, HOP)
    return SongWindows(decoded, HOP)


def _songs(flagged: bool = True) -> list[SongWindows]:
    """Songs of many lengths: one window (the shortest a scan takes), a few, many."""
    lengths = (5.0, 5.3, 7.9, 12.0, 31.0, 6.0)
    return [_song(seconds, i, flagged) for i, seconds in enumerate(lengths)]


@pytest.fixture(scope="module")
def torch_cpu(cnn_run) -> Engine:
    return Engine.load(cnn_run, device="cpu", backend="torch", threads=2)


@pytest.mark.parametrize("size", [1, 3, 16, 64, 500])
def test_packed_spans_hold_every_window_of_the_plan(size):
    songs = _songs()
    host = np.empty((size, WINDOW_SAMPLES), np.float32)
    for plan in plans(songs, size):
        buffer = np.full(span_samples(plan) + 7, np.nan, np.float32)  # stale beyond the end
        samples, starts = pack(plan, buffer, np.full(size + 2, -1, np.int64))
        assert len(samples) == span_samples(plan) and len(starts) == sum(p[2] for p in plan)
        np.testing.assert_array_equal(frame_windows(samples, starts), cut(plan, host))


def test_a_window_past_the_songs_end_is_zero_padded_as_the_host_cut_pads():
    short = _song(5.0, 7)
    short.decoded.samples = short.decoded.samples[: 3 * SAMPLE_RATE]  # ends inside the window
    plan = [(short, 0, 1)]
    buffer = np.full(span_samples(plan), np.nan, np.float32)
    samples, starts = pack(plan, buffer, np.empty(1, np.int64))
    host = cut(plan, np.empty((1, WINDOW_SAMPLES), np.float32))
    np.testing.assert_array_equal(frame_windows(samples, starts), host)
    assert not np.isnan(samples).any() and (samples[3 * SAMPLE_RATE :] == 0).all()
    quiet = np.random.default_rng(1).standard_normal(3 * SAMPLE_RATE) * 10 ** (-49 / 20)
    quiet = quiet.astype(np.float32)  # -49 dB over its 3 s, -51 dB over the padded window
    assert window_flags(quiet) == () and song_flags(quiet, HOP) == [("near-silent",)]


def test_the_device_cut_gives_the_host_cuts_values_on_the_torch_engine(torch_cpu):
    batch = 16
    device, host = DeviceCut(torch_cpu, batch), HostCut(torch_cpu, batch)
    assert isinstance(batch_runner(torch_cpu, batch), HostCut)  # on a CPU: the host cut
    assert isinstance(batch_runner(torch_cpu, batch, device_cut=True), DeviceCut)
    songs = _songs()
    rows = 0
    for plan in plans(songs, batch):
        on_device, on_host = device(plan), host(plan)
        assert on_device.shape == on_host.shape == (sum(p[2] for p in plan), 2)
        np.testing.assert_allclose(on_device, on_host, rtol=0, atol=1e-5)
        rows += len(on_device)
    assert rows == sum(len(song.starts) for song in songs)
    assert len(device.samples) <= batch * WINDOW_SAMPLES  # at most a batch of windows' worth


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_on_a_gpu_the_device_cut_gives_the_host_cuts_values(cnn_run, torch_cpu, precision):
    """From pinned buffers, cut on the GPU: the values of the same engine's host cut, and
    (in fp32) of the CPU's."""
    gpu = Engine.load(cnn_run, device="cuda", backend="torch", precision=precision)
    runner = batch_runner(gpu, 64)
    assert isinstance(runner, DeviceCut) and torch.from_numpy(runner.starts).is_pinned()
    host = HostCut(gpu, 64)
    for plan in plans(_songs(), 64):
        values = runner(plan)
        assert torch.from_numpy(runner.samples).is_pinned()
        np.testing.assert_allclose(values, host(plan), rtol=0, atol=1e-4)
        if precision == "fp32":
            on_cpu = HostCut(torch_cpu, 64)(plan)  # cuDNN may convolve in TF32
            np.testing.assert_allclose(values, on_cpu, rtol=0, atol=1e-2)


def test_an_engine_without_spans_always_cuts_on_the_host(onnx_model):
    engine = Engine.load(onnx_model, device="cpu")
    assert not hasattr(engine, "predict_spans")
    assert isinstance(batch_runner(engine, 4, device_cut=True), HostCut)


def test_songs_get_their_values_and_the_trackers_flags_in_order(torch_cpu):
    """Values land at their windows whatever the batches; a song the decoding worker did not
    flag (the Ray actors') gets the flags the tracker gives each of its windows."""
    run = DeviceCut(torch_cpu, 5)
    finished = []
    songs = _songs(flagged=False)
    for plan in plans(songs, 5):
        finished += hand_out(plan, run(plan))
    assert finished == songs  # each once, when its last window has its value
    for song, reference in zip(songs, _songs(), strict=True):
        expected = torch_cpu.predict(_windows(reference))
        np.testing.assert_allclose(song.values, expected, rtol=0, atol=1e-5)
        assert song.decoded.samples is None  # let go once done
        assert song.flags == reference.flags == [window_flags(w) for w in _windows(reference)]
    assert songs[4].flags[0] == ("silent",) and songs[4].flags[-1] == ()


def _windows(song: SongWindows) -> np.ndarray:
    return frame_windows(song.decoded.samples, song.starts)


def test_a_scan_gives_the_same_rows_with_windows_cut_on_the_device(tmp_path, torch_cpu):
    paths = [
        str(write_song(tmp_path / "music" / f"{i}.wav", seconds, 220.0 + 90 * i))
        for i, seconds in enumerate((5.0, 8.0, 11.5, 6.2, 9.0))
    ]
    rows = {}
    for device_cut in (False, True):
        config = ScanConfig(HOP, workers=2, batch=7, lanes=2, device_cut=device_cut)
        with Store.open(tmp_path / f"{device_cut}.db") as store:
            report = Scan(torch_cpu, store, "cnn:test", config).run([Task(p) for p in paths])
            assert report.ok == len(paths) and report.failed == 0
            rows[device_cut] = {path: store.row(path) for path in paths}
    for path in paths:
        host, device = rows[False][path], rows[True][path]
        np.testing.assert_allclose(device["timeline"], host["timeline"], rtol=0, atol=1e-5)
        assert device["summary"]["flags"] == host["summary"]["flags"]
        assert device["summary"]["windows"] == host["summary"]["windows"]
        assert device["mood"] == host["mood"]
