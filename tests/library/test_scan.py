"""`emotrack scan` as users run it: every song once in a real SQLite file with the numbers
`emotrack file` gives, reruns that skip what is done and pick up what changed, bad files
recorded as failed, and a scan killed with SIGKILL (or stopped with SIGTERM) that resumes
with every song exactly once."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

import numpy as np
import pytest

from emotrack.library.store import Store
from emotrack.main import main
from emotrack.tracker.engine import Engine
from emotrack.tracker.headless import track_file
from emotrack.tracker.output import summarise

from .conftest import write_song


@pytest.fixture
def scan(onnx_model, capsys):
    """scan(*args) -> (exit code, stderr) of `emotrack scan ARGS --model the CNN's ONNX`."""

    def run(*args, model=onnx_model):
        code = main(["scan", *map(str, args), "--model", str(model), "--workers", "2"])
        return code, capsys.readouterr().err

    return run


def _rows(db) -> dict[str, dict]:
    """Every row, timelines as lists (rows compare with ==)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        paths = [row[0] for row in connection.execute("SELECT path FROM songs")]
    with Store.open(db, write=False) as store:
        rows = {path: store.row(path) for path in paths}
    for row in rows.values():
        if row["timeline"] is not None:
            row["timeline"] = row["timeline"].tolist()
    return rows


def test_every_song_gets_a_row_with_the_numbers_emotrack_file_gives(
    tmp_path, library, onnx_model, scan
):
    db = tmp_path / "lib.db"
    code, err = scan(library, "--db", db)
    assert code == 0, err
    assert "4 ok, 0 failed" in err and "x real time" in err and "songs/hour" in err
    rows = _rows(db)
    assert sorted(rows) == sorted(str(p) for p in library.rglob("*.*"))
    engine = Engine.load(onnx_model, device="cpu")
    for path, row in rows.items():
        tracked = track_file(path, engine, fast=True)  # what `emotrack file --fast` computes
        expected = np.array([(e.valence, e.arousal) for e in tracked.timeline])
        assert row["status"] == "ok" and row["error"] is None
        np.testing.assert_allclose(row["timeline"], expected, atol=2e-4)
        summary = summarise(tracked.timeline)
        assert row["summary"]["windows"] == summary.windows
        assert row["summary"]["mood"] == row["mood"]
        assert row["valence_mean"] == pytest.approx(summary.valence_mean, abs=2e-4)
        assert row["arousal_max"] == pytest.approx(summary.arousal_max, abs=2e-4)
        assert sum(row["summary"]["quadrant_share"].values()) == pytest.approx(1.0)
        assert row["duration"] == pytest.approx(tracked.stats.audio_seconds, abs=0.6)
        assert row["content_hash"] and row["size"] == os.path.getsize(path)


def test_a_rerun_skips_what_is_done_and_picks_up_new_and_changed_files(tmp_path, library, scan):
    db = tmp_path / "lib.db"
    assert scan(library, "--db", db)[0] == 0
    first = _rows(db)
    code, err = scan(library, "--db", db)
    assert code == 0 and "0 to track, 4 already done" in err
    assert _rows(db) == first

    new = write_song(library / "album c" / "05 five.mp3", 7.0, 660.0)
    changed = library / "album a" / "02 two.wav"
    write_song(changed, 9.0, 880.0)  # new content
    touched = library / "album b" / "04 four.ogg"
    os.utime(touched, ns=(time.time_ns(), time.time_ns() + 10**9))  # same content, new time
    gone = library / "album b" / "03 three.flac"
    gone.unlink()  # a song that is no longer there is not removed from the database
    code, err = scan(library, "--db", db)
    assert code == 0, err
    assert "4 audio files, 3 to track, 1 already done" in err
    assert "2 ok, 0 failed, 1 unchanged" in err
    rows = _rows(db)
    assert len(rows) == 5 and str(new) in rows and str(gone) in rows
    assert rows[str(changed)]["summary"]["windows"] > first[str(changed)]["summary"]["windows"]
    assert rows[str(touched)]["mtime_ns"] == touched.stat().st_mtime_ns
    assert rows[str(touched)]["timeline"] == first[str(touched)]["timeline"]
    assert "0 to track, 4 already done" in scan(library, "--db", db)[1]


def test_another_model_or_step_tracks_again(tmp_path, library, cnn_run, scan):
    db = tmp_path / "lib.db"
    assert scan(library, "--db", db)[0] == 0
    code, err = scan(library, "--db", db, "--step", "1.0")
    assert code == 0 and "4 to track" in err
    assert all(r["summary"]["windows"] <= 5 and r["hop_seconds"] == 1.0 for r in _rows(db).values())
    code, err = scan(library, "--db", db, "--hop", "1.0", model=cnn_run)  # the torch checkpoint
    assert code == 0 and "4 to track" in err
    with closing(sqlite3.connect(db)) as connection:
        models = [row[0] for row in connection.execute("SELECT id FROM models")]
        used = {row[0] for row in connection.execute("SELECT model_id FROM songs")}
    assert len(models) == 3 and len(used) == 1 and used.pop().startswith("cnn:")


def test_bad_files_are_recorded_as_failed_and_the_scan_goes_on(tmp_path, library, scan):
    bad = library / "bad"
    bad.mkdir()
    (bad / "corrupt.mp3").write_bytes(b"\xff\xfb not an mp3 " * 200)
    (bad / "empty.wav").write_bytes(b"")
    (bad / "text.flac").write_text("just some words, no audio\n" * 50)
    write_song(bad / "short.wav", 3.0)
    mp3 = (library / "album a" / "01 one.mp3").read_bytes()
    (bad / "truncated.mp3").write_bytes(mp3[:400])  # a few frames: under one window
    db = tmp_path / "lib.db"
    code, err = scan(library, "--db", db)
    assert code == 1
    assert "4 ok, 5 failed" in err
    rows = _rows(db)
    failed = {os.path.basename(p): r["error"] for p, r in rows.items() if r["status"] == "failed"}
    assert sorted(failed) == ["corrupt.mp3", "empty.wav", "short.wav", "text.flac", "truncated.mp3"]
    assert "empty file" in failed["empty.wav"]
    assert "only 3.00 s of audio" in failed["short.wav"]
    assert all(reason.startswith(str(bad)) and "\n" not in reason for reason in failed.values())
    for name, reason in failed.items():
        assert f"failed: {bad / name}" in err and reason in err
    assert all(
        rows[p]["timeline"] is None and rows[p]["mood"] is None
        for p in rows
        if rows[p]["status"] == "failed"
    )
    code, err = scan(library, "--db", db)  # failures are not retried unless asked
    assert code == 0 and "0 to track" in err
    code, err = scan(library, "--db", db, "--retry-failed")
    assert code == 1 and "5 to track" in err and "0 ok, 5 failed" in err


def test_no_audio_at_all_is_bad_input(tmp_path, scan):
    (tmp_path / "notes.txt").write_text("hello")
    code, err = scan(tmp_path, "--db", tmp_path / "lib.db")
    assert code == 2 and "no audio files found" in err


# ---------------------------------------------------------------------------- kill and resume


def _start(db, music, model, *extra) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "emotrack",
        "scan",
        str(music),
        "--db",
        str(db),
        "--model",
        str(model),
        "--workers",
        "1",
        "--batch",
        "16",
        *extra,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _committed(db) -> int:
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as connection:
            return connection.execute("SELECT COUNT(*) FROM songs").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def _wait_for_rows(process, db, at_least: int, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        count = _committed(db)
        if count >= at_least:
            return count
        time.sleep(0.02)
    raise AssertionError(f"scan ended or stalled before {at_least} rows: {process.communicate()}")


@pytest.fixture
def big_library(tmp_path):
    """24 songs of 36 s: long enough for a scan to be killed in the middle (rows are
    committed once a second)."""
    root = tmp_path / "big"
    for i in range(24):
        write_song(root / f"{i // 8}" / f"{i:02d}.wav", 36.0, 200.0 + 37 * i)
    return root


def test_sigkill_at_any_moment_then_resume_gives_every_song_exactly_once(
    tmp_path, big_library, onnx_model
):
    reference = tmp_path / "reference.db"
    done = _start(reference, big_library, onnx_model)
    assert done.wait(timeout=300) == 0, done.communicate()
    db = tmp_path / "lib.db"
    seen = []
    for at_least in (1, 9):  # killed twice, at different points
        process = _start(db, big_library, onnx_model)
        seen.append(_wait_for_rows(process, db, at_least))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        before = _rows(db)
        assert len(before) < 24, "the scan finished before it could be killed; use more songs"
        assert all(row["status"] == "ok" for row in before.values())  # whole rows only
    process = _start(db, big_library, onnx_model)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert f"{24 - len(before)} to track, {len(before)} already done" in err
    rows, expected = _rows(db), _rows(reference)
    assert sorted(rows) == sorted(expected)  # every song, none twice (path is the key)
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("SELECT COUNT(*) FROM songs").fetchone()[0] == 24
    for path, row in rows.items():
        np.testing.assert_allclose(row["timeline"], expected[path]["timeline"], atol=1e-5)
    for path, row in before.items():  # what was committed before the kill was kept as it was
        assert rows[path]["scanned_at"] == row["scanned_at"]


def test_sigterm_stops_the_scan_keeps_what_finished_and_exits_143(
    tmp_path, big_library, onnx_model
):
    db = tmp_path / "lib.db"
    process = _start(db, big_library, onnx_model)
    _wait_for_rows(process, db, 1)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143
    assert "terminated: every song finished so far is saved" in err and "Traceback" not in err
    kept = _rows(db)
    assert 1 <= len(kept) < 24 and all(row["status"] == "ok" for row in kept.values())
    process = _start(db, big_library, onnx_model)
    assert process.wait(timeout=300) == 0
    assert len(_rows(db)) == 24


def test_write_tags_on_a_rerun_tags_the_songs_done_before(tmp_path, library, scan):
    """--write-tags on a rerun tags the songs done before, from the database."""
    from emotrack.library.tags import read_tags

    db = tmp_path / "lib.db"
    assert scan(library, "--db", db)[0] == 0
    code, err = scan(library, "--db", db, "--write-tags")
    assert code == 0 and "0 to track" in err and "4 tagged" in err
    rows = _rows(db)
    for path, row in rows.items():
        tags = read_tags(path)
        assert tags["EMOTRACK_MOOD"] == row["mood"]
        assert float(tags["EMOTRACK_VALENCE"]) == pytest.approx(row["valence_mean"], abs=0.005)
    code, err = scan(library, "--db", db, "--write-tags")  # tagged files are not changed files
    assert code == 0 and "0 to track, 4 already done" in err and "tagged" not in err


def test_a_copied_library_is_its_own_set_of_rows(tmp_path, library, scan):
    db = tmp_path / "lib.db"
    copy = tmp_path / "copy"
    shutil.copytree(library, copy)
    assert scan(library, copy, "--db", db)[0] == 0
    assert len(_rows(db)) == 8
