"""The library database: rows and timelines round-trip through a real SQLite file; a file or
disk that cannot be written gives one clear error, before any work, and loses nothing that
was committed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from contextlib import closing, contextmanager

import numpy as np
import pytest

from emotrack.library.store import SongRow, Store, StoreError
from emotrack.main import main

from .conftest import write_song

ROOT = os.geteuid() == 0


def _row(path: str, valence: float = 6.0, arousal: float = 3.0) -> SongRow:
    values = np.array([[valence, arousal], [valence + 0.5, arousal - 0.5]], np.float32)
    summary = {
        "windows": 2,
        "valence_mean": valence + 0.25,
        "valence_std": 0.25,
        "valence_min": valence,
        "valence_max": valence + 0.5,
        "arousal_mean": arousal - 0.25,
        "arousal_std": 0.25,
        "arousal_min": arousal - 0.5,
        "arousal_max": arousal,
        "quadrant_share": {
            "happy/excited": 0.0,
            "tense/angry": 0.0,
            "sad/depressed": 0.0,
            "calm/relaxed": 1.0,
        },
        "mood": "calm",
        "new_field_from_a_later_version": [1, 2],
    }
    return SongRow(
        path, 123, 456, "abc", "cnn:1:hop0.5:fp32", "ok", None, 5.5, summary, 0.5, values
    )


def test_rows_round_trip_with_summary_columns_json_and_timeline(tmp_path):
    with Store.open(tmp_path / "lib.db") as store:
        store.add_model("cnn:1:hop0.5:fp32", "m.onnx", "a model", 0.5)
        store.write([_row("/music/a.mp3")])
        row = store.row("/music/a.mp3")
        times, values = store.timeline("/music/a.mp3")
        known = store.lookup("/music/a.mp3")
    assert row["valence_mean"] == 6.25 and row["arousal_min"] == 2.5 and row["mood"] == "calm"
    assert row["share_calm_relaxed"] == 1.0 and row["share_happy_excited"] == 0.0
    assert row["summary"]["new_field_from_a_later_version"] == [1, 2]  # all of it is kept
    assert times.tolist() == [5.0, 5.5]
    assert values.tolist() == [[6.0, 3.0], [6.5, 2.5]]
    assert (known.size, known.mtime_ns, known.status) == (123, 456, "ok")
    with closing(sqlite3.connect(tmp_path / "lib.db")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_song_is_one_row_replaced_not_duplicated(tmp_path):
    with Store.open(tmp_path / "lib.db") as store:
        store.add_model("cnn:1:hop0.5:fp32", "m.onnx", "a model", 0.5)
        store.write([_row("/a.mp3", 6.0), _row("/b.mp3")])
        store.write([_row("/a.mp3", 2.0)])
        assert store.counts() == {"ok": 2}
        assert store.row("/a.mp3")["valence_min"] == 2.0


def test_not_a_library_and_a_folder_are_refused(tmp_path):
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="not an emotrack library"):
        Store.open(other)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not an intact emotrack library"):
        Store.open(garbage)
    with pytest.raises(StoreError, match="is a folder"):
        Store.open(tmp_path)
    with pytest.raises(StoreError, match="no library database here"):
        Store.open(tmp_path / "missing.db", write=False)


# ---------------------------------------------------------------------------- the real disk


@contextmanager
def _small_disk(folder, size: str):
    """A real filesystem of ``size`` mounted at ``folder`` (tmpfs; needs root)."""
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def _scan(db, music, onnx_model, capsys):
    code = main(["scan", str(music), "--db", str(db), "--model", str(onnx_model), "--workers", "1"])
    return code, capsys.readouterr().err


def _intact(db):
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return connection.execute("SELECT path, valence_mean FROM songs ORDER BY path").fetchall()


@pytest.mark.skipif(not ROOT, reason="mounting a small filesystem needs root (CI runs as root)")
def test_a_full_disk_is_a_clear_error_and_loses_nothing_committed(
    tmp_path, library, onnx_model, capsys
):
    with _small_disk(tmp_path / "disk", "1m") as disk:
        db = disk / "lib.db"
        assert _scan(db, library, onnx_model, capsys)[0] == 0
        before = _intact(db)
        assert len(before) == 4
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # fill the disk to the last byte
            for size in (65536, 4096, 512, 1):
                while True:
                    os.write(fd, b"\0" * size)
        except OSError:
            pass
        finally:
            os.close(fd)
        write_song(library / "new" / "05 five.wav", 7.0, 660.0)
        write_song(library / "new" / "06 six.wav", 7.0, 770.0)
        code, err = _scan(db, library, onnx_model, capsys)
        assert code == 2
        (message,) = [line for line in err.splitlines() if "error" in line]
        assert str(db) in message and "full" in message and "free some disk space" in message
        assert "Traceback" not in err
        assert _intact(db) == before  # nothing committed is lost, nothing is half-written
        filler.unlink()
        assert _scan(db, library, onnx_model, capsys)[0] == 0
        after = _intact(db)
        assert len(after) == 6 and set(before) <= set(after)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_database_is_a_clear_error_before_any_work(
    tmp_path, library, onnx_model, capsys, what
):
    """Root writes through permissions, so as root the file is made immutable (chattr +i)
    and the folder is a really read-only filesystem; as a user, permissions do it."""
    folder = tmp_path / "disk"
    with _small_disk(folder, "4m") if ROOT and what == "folder" else _folder(folder):
        db = folder / "lib.db"
        assert _scan(db, library, onnx_model, capsys)[0] == 0
        before = _intact(db)
        write_song(library / "new" / "05 five.wav", 7.0, 660.0)
        with _read_only(db, what):
            code, err = _scan(db, library, onnx_model, capsys)
        assert code == 2
        assert "writable" in err and str(db) in err and "Traceback" not in err
        assert "scanning" not in err  # refused before any song was tracked
        assert _intact(db) == before


@contextmanager
def _folder(folder):
    folder.mkdir()
    yield folder


@contextmanager
def _read_only(db, what: str):
    folder = db.parent
    if ROOT and what == "file":
        subprocess.run(["chattr", "+i", str(db)], check=True)
    elif ROOT:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    else:
        db.chmod(0o444)
        if what == "folder":
            folder.chmod(0o555)
    try:
        yield
    finally:
        if ROOT and what == "file":
            subprocess.run(["chattr", "-i", str(db)], check=True)
        elif ROOT:
            subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)
        else:
            folder.chmod(0o755)
            db.chmod(0o644)
