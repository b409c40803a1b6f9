"""`emotrack playlist`: mood playlists and paths across the plane from a real library
database, written as M3U8 to stdout or a file."""

from __future__ import annotations

import os

import numpy as np
import pytest

from emotrack.library.playlist import MOOD_WORDS, target
from emotrack.library.store import SongRow, Store
from emotrack.main import main
from emotrack.models.scale import mood

MODEL = "cnn:0123456789abcdef:hop0.5:fp32"


@pytest.fixture
def plane(tmp_path):
    """A database of 81 songs on a 9 x 9 grid over the plane (valence, arousal 1.4..8.6),
    each a real (empty) file on disk; returns (db, {path: (valence, arousal)})."""
    db = tmp_path / "lib.db"
    folder = tmp_path / "music"
    folder.mkdir()
    places = {}
    rows = []
    for i, valence in enumerate(np.linspace(1.4, 8.6, 9)):
        for j, arousal in enumerate(np.linspace(1.4, 8.6, 9)):
            path = folder / f"v{i}a{j}.mp3"
            path.write_bytes(b"")
            places[str(path)] = (float(valence), float(arousal))
            summary = {
                "valence_mean": valence,
                "arousal_mean": arousal,
                "mood": mood(valence, arousal),
            }
            rows.append(
                SongRow(str(path), 0, 0, None, MODEL, "ok", duration=200.0 + i, summary=summary)
            )
    with Store.open(db) as store:
        store.add_model(MODEL, "model.onnx", "a model", 0.5)
        store.write(rows)
    return db, places


def _playlist(capsys, db, *args):
    code = main(["playlist", "--db", str(db), *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _paths(m3u: str) -> list[str]:
    return [line for line in m3u.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("word", ["calm", "happy", "tense", "sad", "neutral"])
def test_a_mood_playlist_holds_that_mood_most_typical_first(plane, capsys, word):
    db, places = plane
    code, out, err = _playlist(capsys, db, "--mood", word, "--limit", "5")
    assert code == 0, err
    paths = _paths(out)
    assert 1 <= len(paths) <= 5
    assert all(mood(*places[p]) == word for p in paths)
    goal = np.array(target(word))
    distance = [np.hypot(*(np.array(places[p]) - goal)) for p in paths]
    assert distance == sorted(distance)
    others = [p for p in places if mood(*places[p]) == word and p not in paths]
    assert all(np.hypot(*(np.array(places[p]) - goal)) >= distance[-1] for p in others)


def test_the_m3u8_names_duration_and_values(plane, capsys):
    db, places = plane
    code, out, _ = _playlist(capsys, db, "--mood", "excited", "--limit", "2")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "#EXTM3U" and len(lines) == 1 + 3 * 2
    comment, info, path = lines[1:4]
    valence, arousal = places[path]
    assert comment == f"# emotrack: valence {valence:.2f}, arousal {arousal:.2f}, excited"
    assert info.startswith("#EXTINF:20") and info.endswith(f",{path.rsplit('/', 1)[1][:-4]}")


@pytest.mark.parametrize("start, end", [("sad", "happy"), ("calm", "tense"), ("angry", "relaxed")])
def test_a_path_moves_from_one_mood_to_the_other_step_by_step(plane, capsys, start, end):
    db, places = plane
    code, out, err = _playlist(capsys, db, "--from", start, "--to", end, "--limit", "8")
    assert code == 0, err
    points = np.array([places[p] for p in _paths(out)])
    assert len(points) == 8 and len(set(_paths(out))) == 8
    a, b = np.array(target(start)), np.array(target(end))
    along = (points - a) @ (b - a) / ((b - a) @ (b - a))
    assert np.all(np.diff(along) >= 0)  # always onwards
    assert np.all(np.diff(along) < 0.35)  # in steps, no jump across the plane
    assert mood(*points[0]) == start and mood(*points[-1]) == end
    d, rel = b - a, points - a
    offset = np.abs(d[0] * rel[:, 1] - d[1] * rel[:, 0]) / np.linalg.norm(d)
    assert offset.max() < 1.0  # close to the line between the two moods


def test_output_file_missing_songs_and_nothing_fitting(plane, capsys, tmp_path):
    db, places = plane
    gone = [p for p in places if mood(*places[p]) == "calm"]
    for path in gone[:-1]:
        os.unlink(path)
    out_file = tmp_path / "calm.m3u8"
    code, out, err = _playlist(capsys, db, "--mood", "calm", "-o", out_file)
    assert code == 0 and out == ""
    assert _paths(out_file.read_text()) == [gone[-1]]
    assert f"{len(gone) - 1} songs in the database are no longer on disk" in err
    for path in gone[-1:]:
        os.unlink(path)
    code, out, err = _playlist(capsys, db, "--mood", "calm")
    assert code == 1 and out == "" and "no song in the library fits calm" in err


def test_list_counts_songs_per_mood(plane, capsys):
    db, places = plane
    code, out, _ = _playlist(capsys, db, "--list")
    counts = dict(line.split() for line in out.splitlines())
    assert code == 0 and list(counts) == list(MOOD_WORDS)
    assert sum(map(int, counts.values())) == len(places)


def test_bad_usage_is_a_clear_error(plane, capsys, tmp_path):
    db, _ = plane
    code, _, err = _playlist(capsys, db, "--from", "sad")
    assert code == 2 and "--from and --to go together" in err
    code, _, err = _playlist(capsys, tmp_path / "none.db", "--mood", "sad")
    assert code == 2 and "no library database here" in err and "emotrack scan" in err


def test_scan_then_playlist_end_to_end(tmp_path, library, onnx_model, capsys):
    db = tmp_path / "lib.db"
    assert main(["scan", str(library), "--db", str(db), "--model", str(onnx_model)]) == 0
    capsys.readouterr()
    with Store.open(db, write=False) as store:
        songs = list(store.songs())
    word = songs[0].mood
    code, out, _ = _playlist(capsys, db, "--mood", word)
    assert code == 0
    assert set(_paths(out)) == {s.path for s in songs if s.mood == word}
    code, out, _ = _playlist(capsys, db, "--from", "sad", "--to", "happy", "--limit", "3")
    assert code == 0 and len(_paths(out)) == 3
