"""Which files a scan finds: recursive, sorted, hidden and `._` files skipped, symbolic links
followed once (no loops, no duplicates), and a clear word for paths that hold no audio."""

from __future__ import annotations

import os

from emotrack.library.discovery import find_audio


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_finds_audio_recursively_sorted_skipping_hidden_and_other_files(tmp_path):
    for name in ("b/2.MP3", "b/1.flac", "a.wav", "c/d/e.ogg", "notes.txt", "cover.jpg"):
        _touch(tmp_path / name)
    for hidden in ("._a.wav", ".hidden.mp3", ".cache/x.mp3", "b/._1.flac"):
        _touch(tmp_path / hidden)
    found = list(find_audio([tmp_path]))
    assert [f.problem for f in found] == [None] * 4
    names = [str(f.path.relative_to(tmp_path)) for f in found]
    assert names == ["a.wav", "b/1.flac", "b/2.MP3", "c/d/e.ogg"]
    assert all(f.path.is_absolute() for f in found)


def test_symlinks_are_followed_once_without_loops_or_duplicates(tmp_path):
    music = tmp_path / "music"
    song = _touch(music / "album" / "song.mp3")
    os.symlink(music, music / "album" / "loop")  # a link back up the tree
    os.symlink(music / "album", tmp_path / "same album")  # a second way to the same folder
    elsewhere = _touch(tmp_path / "elsewhere" / "other.flac")
    os.symlink(tmp_path / "elsewhere", music / "linked")
    os.symlink(song, music / "alias.mp3")  # a link to a file already found
    found = list(find_audio([music, tmp_path / "same album", song]))
    paths = [f.path for f in found if f.problem is None]
    assert sorted(p.resolve() for p in paths) == sorted([song.resolve(), elsewhere.resolve()])
    assert all(f.problem is None for f in found)  # a folder already walked is no problem


def test_missing_paths_and_folders_without_audio_are_named(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _touch(empty / "readme.txt")
    found = list(find_audio([tmp_path / "nope", empty]))
    assert [f.path for f in found] == [tmp_path / "nope", empty]
    assert "no such file or folder" in found[0].problem
    assert "no audio files in this folder" in found[1].problem


def test_a_file_named_explicitly_is_taken_whatever_its_name(tmp_path):
    odd = _touch(tmp_path / "song.m4a")
    assert [f.path for f in find_audio([odd])] == [odd]
