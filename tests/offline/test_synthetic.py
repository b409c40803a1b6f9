"""The synthetic DEAM: real formats and quirks, same labels per seed, audible cues, faults."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emotrack.models.audio import AudioError, load_audio
from emotrack.models.errors import UserError
from emotrack.offline.synth_music import Drift
from emotrack.offline.synth_writer import MANIFEST
from emotrack.offline.synthetic import (
    AUDIO_DIR,
    YEAR_RANGES,
    Faults,
    _year_counts,
    generate_deam,
    load_manifest,
)
from emotrack.offline.synthetic_labels import (
    DYNAMIC_DIR,
    STATIC_2015_FILE,
    STATIC_DIR,
    STATIC_FILE,
)

CLIP = 16.0  # seconds: the shortest clip with dynamic labels, keeps the tests fast
SPACED_HEADER = b"song_id, valence_mean, valence_std, arousal_mean, arousal_std\r\n"
FAULTS = Faults(
    missing_audio=1,
    unlabelled_audio=2,
    malformed_rows=2,
    corrupt_audio=2,
    short_audio=1,
    swapped_year=2014,
    dynamic_gaps=2,
)


def label_files(root: Path) -> dict[str, bytes]:
    files = [STATIC_DIR / STATIC_FILE, STATIC_DIR / STATIC_2015_FILE]
    files += [DYNAMIC_DIR / "valence.csv", DYNAMIC_DIR / "arousal.csv"]
    return {str(f): (root / f).read_bytes() for f in files if (root / f).exists()}


def dynamic_rows(root: Path, dimension: str) -> tuple[list[str], dict[int, list[str]]]:
    lines = (root / DYNAMIC_DIR / f"{dimension}.csv").read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    return lines[0].split(","), {int(r[0]): r[1:] for r in rows}


def static_rows(root: Path, name: str = STATIC_FILE) -> dict[int, list[str]]:
    lines = (root / STATIC_DIR / name).read_bytes().decode().split("\r\n")[1:-1]
    return {int(line.split(",")[0]): line.split(",")[1:] for line in lines}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """16 songs, 2 of them 2015 full songs, no faults (two worker processes)."""
    root = tmp_path_factory.mktemp("clean")
    return generate_deam(root, n_songs=16, seed=3, clip_seconds=CLIP, full_songs=2, workers=2)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faulty")
    return generate_deam(
        root, n_songs=14, seed=5, clip_seconds=CLIP, faults=FAULTS, progress=False, workers=1
    )


def test_same_seed_gives_the_same_files_whatever_the_workers(clean, tmp_path):
    again = generate_deam(
        tmp_path / "again",
        n_songs=16,
        seed=3,
        clip_seconds=CLIP,
        full_songs=2,
        progress=False,
        workers=1,
    )
    assert label_files(again) == label_files(clean)
    assert load_manifest(again) == load_manifest(clean)
    for name in sorted(os.listdir(clean / AUDIO_DIR))[:3]:
        ours, theirs = load_audio(clean / AUDIO_DIR / name), load_audio(again / AUDIO_DIR / name)
        np.testing.assert_array_equal(ours, theirs)
    other = generate_deam(
        tmp_path / "other", n_songs=16, seed=4, clip_seconds=CLIP, full_songs=2, progress=False
    )
    assert label_files(other) != label_files(clean)


def test_static_files_have_deams_quirks(clean):
    data = (clean / STATIC_DIR / STATIC_FILE).read_bytes()
    assert data.startswith(SPACED_HEADER)
    assert data.count(b"\r\n") == data.count(b"\n") == 15  # header + 14 excerpts, all CRLF
    ids = sorted(static_rows(clean))
    assert any(i <= 1000 for i in ids) and any(1001 <= i <= 2000 for i in ids)
    assert ids == sorted(set(ids)) and min(ids) >= 2

    full = (clean / STATIC_DIR / STATIC_2015_FILE).read_bytes().decode()
    header = full.split("\r\n")[0].split(", ")
    assert len(header) == 13 and header[3] == "valence_ max_mean"
    rows = static_rows(clean, STATIC_2015_FILE)
    assert sorted(rows) == [2001, 2002]
    assert all(len(cells) == 12 and 1 <= float(cells[0]) <= 9 for cells in rows.values())


def test_dynamic_files_are_wide_and_padded(clean):
    manifest = load_manifest(clean)
    for dimension in ("valence", "arousal"):
        header, rows = dynamic_rows(clean, dimension)
        assert header[:3] == ["song_id", "sample_15000ms", "sample_15500ms"]
        longest = max(s["duration"] for s in manifest["songs"].values())
        assert len(header) - 1 == int(np.ceil((longest - 15.0) / 0.5))
        assert sorted(rows) == sorted(int(i) for i in manifest["songs"])
        for song_id, cells in rows.items():
            assert len(cells) == len(header) - 1
            filled = [c for c in cells if c]
            expected = int(np.ceil((manifest["songs"][str(song_id)]["duration"] - 15.0) / 0.5))
            assert len(filled) == expected and cells[:expected] == filled  # empty cells after
            assert all(-1.0 <= float(c) <= 1.0 for c in filled)
        assert len([c for c in rows[min(rows)] if c]) == 2 * (CLIP - 15.0)


def test_audio_is_mp3_mono_and_stereo_at_deam_rates(clean):
    manifest = load_manifest(clean)
    rates, channels = set(), set()
    for song_id, song in manifest["songs"].items():
        info = sf.info(str(clean / AUDIO_DIR / f"{song_id}.mp3"))
        assert info.format == "MP3"
        assert (info.samplerate, info.channels) == (song["sample_rate"], song["channels"])
        assert abs(info.duration - song["duration"]) < 0.5
        rates.add(info.samplerate)
        channels.add(info.channels)
    assert rates == {22_050, 44_100} and channels == {1, 2}
    assert any(s["duration"] > 2 * CLIP for s in manifest["songs"].values())  # full songs


def test_labels_are_the_latent_curves(clean):
    manifest = load_manifest(clean)
    header, valence = dynamic_rows(clean, "valence")
    _, arousal = dynamic_rows(clean, "arousal")
    times = np.array([int(h[len("sample_") : -len("ms")]) / 1000 for h in header[1:]])
    static = static_rows(clean)
    for song_id, song in manifest["songs"].items():
        for dimension, rows in (("valence", valence), ("arousal", arousal)):
            drift = Drift(**song[dimension])
            values = np.array([float(c) for c in rows[int(song_id)] if c])
            np.testing.assert_allclose(values, drift(times[: len(values)]), atol=1e-4)
        if int(song_id) in static:
            cells = static[int(song_id)]
            for k, dimension in ((0, "valence"), (2, "arousal")):
                truth = 5 + 4 * song[f"{dimension}_clip_mean"]
                assert abs(float(cells[k]) - truth) < 0.8  # 0.15 rater noise, one decimal
                assert 0.5 < float(cells[k + 1]) < 2.5  # a plausible rater spread
    centres = np.array(
        [[s["valence"]["centre"], s["arousal"]["centre"]] for s in manifest["songs"].values()]
    )
    for axis in range(2):  # the songs cover the plane: every quarter of each axis is used
        assert len(set(np.digitize(centres[:, axis], [-0.5, 0.0, 0.5]))) == 4


def _cue_features(path: Path) -> tuple[float, float]:
    """(mean spectral flux, log-frequency centroid of 40..2000 Hz): two naive audio features."""
    x = load_audio(path)
    frames = np.lib.stride_tricks.sliding_window_view(x, 1024)[::256] * np.hanning(1024)
    spectrum = np.abs(np.fft.rfft(frames, axis=1))
    freqs = np.fft.rfftfreq(1024, 1 / 16_000)
    flux = np.maximum(np.diff(np.log(spectrum + 1e-3), axis=0), 0.0).sum(axis=1).mean()
    band = (freqs > 40) & (freqs < 2000)
    power = spectrum[:, band] ** 2
    register = (power * np.log(freqs[band])).sum(axis=1) / (power.sum(axis=1) + 1e-12)
    return float(flux), float(np.median(register))


def test_emotion_is_audible(clean):
    """Simple features track the labels: onsets/flux follow arousal, register follows valence."""
    manifest = load_manifest(clean)
    rows = []
    for song_id, song in manifest["songs"].items():
        flux, register = _cue_features(clean / AUDIO_DIR / f"{song_id}.mp3")
        rows.append((song["valence_clip_mean"], song["arousal_clip_mean"], flux, register))
    valence, arousal, flux, register = np.array(rows).T
    assert np.corrcoef(arousal, flux)[0, 1] > 0.8
    assert np.corrcoef(valence, register)[0, 1] > 0.8


def test_faults_are_planted_as_recorded(faulty):
    manifest = load_manifest(faulty)
    planted, songs = manifest["planted"], manifest["songs"]
    audio = {int(p.stem) for p in (faulty / AUDIO_DIR).glob("*.mp3")}
    static = static_rows(faulty)
    _, valence = dynamic_rows(faulty, "valence")
    _, arousal = dynamic_rows(faulty, "arousal")

    assert len(planted["missing_audio"]) == 1 and not set(planted["missing_audio"]) & audio
    assert set(planted["missing_audio"]) <= set(static)
    assert len(planted["unlabelled_audio"]) == 2 and set(planted["unlabelled_audio"]) <= audio
    assert not set(planted["unlabelled_audio"]) & (set(static) | set(valence))

    lines = (faulty / STATIC_DIR / STATIC_FILE).read_text().splitlines()
    kinds = set()
    for row in planted["malformed_rows"]:
        cells = lines[row["line"] - 1].split(",")
        assert int(cells[0]) == row["song_id"]
        assert len(cells) == 4 if row["kind"] == "too_few_fields" else cells[1] == "five"
        kinds.add(row["kind"])
    assert kinds == {"too_few_fields", "not_a_number"}

    assert {c["kind"] for c in planted["corrupt_audio"]} == {"garbage", "truncated"}
    for corrupt in planted["corrupt_audio"]:
        with pytest.raises(AudioError):
            load_audio(faulty / AUDIO_DIR / f"{corrupt['song_id']}.mp3")
    (short,) = planted["short_audio"]
    assert sf.info(str(faulty / AUDIO_DIR / f"{short}.mp3")).duration < 5.0
    assert songs[str(short)]["duration"] == CLIP  # labelled for the whole clip

    assert planted["swapped_ids"] and all(1001 <= i <= 2000 for i in planted["swapped_ids"])
    malformed = {row["song_id"] for row in planted["malformed_rows"]}
    for song_id in set(static) - malformed:
        song, cells = songs[str(song_id)], static[song_id]
        first, third = ("valence", "arousal")
        if song_id in planted["swapped_ids"]:
            first, third = third, first
        assert abs(float(cells[0]) - (5 + 4 * song[f"{first}_clip_mean"])) < 0.8
        assert abs(float(cells[2]) - (5 + 4 * song[f"{third}_clip_mean"])) < 0.8

    for gap in planted["dynamic_gaps"]:
        width = len(valence[gap["song_id"]])
        holes = [int((t - 15.0) / 0.5) for t in gap["times"]]
        assert all(0 < k < width for k in holes)
        assert [valence[gap["song_id"]][k] for k in holes] == [""] * len(holes)
        assert [arousal[gap["song_id"]][k] for k in holes] == ["NaN"] * len(holes)


def test_the_deam_loader_finds_every_planted_fault(faulty):
    deam_module = pytest.importorskip("emotrack.offline.deam")
    deam = deam_module.load_deam(faulty)
    planted = load_manifest(faulty)["planted"]
    by_kind: dict[str, set] = {}
    for problem in deam.problems:
        name = Path(problem.path).name if problem.path else ""
        by_kind.setdefault(problem.kind, set()).add((name, problem.row))
    assert by_kind.get("bad-row") == {(STATIC_FILE, r["line"]) for r in planted["malformed_rows"]}
    corrupt = {(f"{c['song_id']}.mp3", None) for c in planted["corrupt_audio"]}
    assert by_kind.get("unreadable-audio") == corrupt
    assert by_kind.get("short-audio") == {(f"{i}.mp3", None) for i in planted["short_audio"]}
    for song_id in planted["missing_audio"]:
        assert deam.songs[song_id].audio_path is None and deam.songs[song_id].has_static
    for song_id in planted["unlabelled_audio"]:
        song = deam.songs[song_id]
        assert song.audio_path is not None and not song.has_static and not song.has_dynamic
    for gap in planted["dynamic_gaps"]:
        curve = deam.songs[gap["song_id"]].valence_curve
        assert not set(gap["times"]) & set(curve.times.tolist())
    faulted = set(planted["missing_audio"]) | set(planted["short_audio"])
    faulted |= {c["song_id"] for c in planted["corrupt_audio"]}
    faulted |= {r["song_id"] for r in planted["malformed_rows"]}
    labelled = {int(i) for i, s in load_manifest(faulty)["songs"].items() if s["labelled"]}
    assert {s.song_id for s in deam.labelled("both")} == labelled - faulted


def test_same_parameters_reuse_the_folder_and_others_replace_it(tmp_path):
    root = tmp_path / "set"
    generate_deam(root, n_songs=3, clip_seconds=CLIP, progress=False, workers=1)
    manifest = root / MANIFEST
    stamp = manifest.stat().st_mtime_ns
    generate_deam(root, n_songs=3, clip_seconds=CLIP, progress=False, workers=1)
    assert manifest.stat().st_mtime_ns == stamp
    before = {p.name for p in (root / AUDIO_DIR).iterdir()}
    generate_deam(root, n_songs=2, seed=9, clip_seconds=CLIP, progress=False, workers=1)
    after = {p.name for p in (root / AUDIO_DIR).iterdir()}
    assert len(after) == 2 and after != before  # no stale songs of the old set remain
    assert json.loads(manifest.read_text())["parameters"]["seed"] == 9


def test_a_foreign_folder_is_never_touched(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="not empty"):
        generate_deam(tmp_path, n_songs=2, clip_seconds=CLIP, progress=False)
    assert os.listdir(tmp_path) == ["mine.txt"]


@pytest.mark.parametrize(
    ("arguments", "faults", "message"),
    [
        ({"n_songs": 0}, {}, "n_songs"),
        ({"clip_seconds": 10.0}, {}, "clip_seconds"),
        ({"full_songs": 3, "n_songs": 2}, {}, "full_songs"),
        ({"n_songs": 2}, {"missing_audio": 3}, "faults need"),
        ({"n_songs": 2}, {"swapped_year": 2015}, "swapped_year"),
        ({}, {"swapped_year": 1999}, "swapped_year"),
        ({}, {"short_audio": -1}, "short_audio"),
        ({"n_songs": 2100}, {}, "excerpt ids hold at most 1999"),
    ],
)
def test_bad_arguments_are_user_errors(tmp_path, arguments, faults, message):
    with pytest.raises(UserError, match=message):
        generate_deam(
            tmp_path / "x",
            **{"clip_seconds": CLIP, "progress": False, **arguments},
            faults=Faults(**faults),
        )
    assert not (tmp_path / "x").exists()  # refused before anything was written


@pytest.mark.parametrize("n_songs", [1744, 1802, 1999])
def test_a_deam_sized_set_fits_deams_song_ids(n_songs):
    full = min(58, n_songs - 1999) if n_songs > 1999 else 0
    counts = _year_counts(n_songs, full)
    assert sum(counts.values()) == n_songs
    for year, (lo, hi) in YEAR_RANGES.items():
        assert 0 <= counts[year] <= hi - lo + 1
