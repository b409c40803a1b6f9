"""Which files a scan looks at: every audio file under the paths given, recursively.

Hidden files and folders (a name starting with ``.``, which includes macOS's ``._name``
resource forks) are skipped. Symbolic links are followed, but every folder and file is visited
once: a link back up the tree, or two links to one folder, cannot make a loop or a duplicate.
Folders are walked in sorted order and one at a time, so a large library streams.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from emotrack.models.audio import AUDIO_EXTENSIONS


@dataclass(frozen=True)
class Found:
    """An audio file to scan (``problem`` None), or a path given that holds none (the
    message says why)."""

    path: Path
    problem: str | None = None


def is_audio_name(name: str) -> bool:
    """An audio file's name: a known extension (any case), not hidden."""
    return not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS


def find_audio(paths: Iterable[str | Path]) -> Iterator[Found]:
    """Audio files under the folders in ``paths`` and the files named there (absolute paths,
    each file once), plus one ``Found`` with a ``problem`` for every path given that is
    missing or holds no audio file."""
    seen: set[tuple[int, int]] = set()  # (device, inode) of folders and files visited
    for given in paths:
        path = Path(given).expanduser().absolute()
        if not path.exists():
            yield Found(path, f"{path}: no such file or folder; check the path")
        elif path.is_dir():
            if _key(path) in seen:  # given twice, or inside a folder given before
                continue
            count = 0
            for found in _walk(path, seen):
                count += 1
                yield found
            if count == 0:
                kinds = ", ".join(AUDIO_EXTENSIONS)
                yield Found(path, f"{path}: no audio files in this folder ({kinds})")
        elif _first_visit(path, seen):  # a file named on the command line: whatever its name
            yield Found(path)


def _walk(folder: Path, seen: set[tuple[int, int]]) -> Iterator[Found]:
    if not _first_visit(folder, seen):
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:  # unreadable folder: nothing in it can be scanned
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()  # follows symbolic links
            is_file = not is_dir and entry.is_file()
        except OSError:
            continue
        path = folder / entry.name
        if is_dir:
            yield from _walk(path, seen)
        elif is_file and is_audio_name(entry.name) and _first_visit(path, seen):
            yield Found(path)


def _key(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _first_visit(path: Path, seen: set[tuple[int, int]]) -> bool:
    key = _key(path)
    if key is None or key in seen:
        return False
    seen.add(key)
    return True
