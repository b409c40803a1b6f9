"""Discovery of a DEAM copy: a walk of its folder (any nesting, spaces or underscores in folder
names) for the averaged static label files, the dynamic ``valence.csv`` and ``arousal.csv`` and
the audio named by song id; of several copies of one file the first is picked."""

from __future__ import annotations

import os
from pathlib import Path

from emotrack.models.audio import AUDIO_EXTENSIONS
from emotrack.offline.datafiles import Problem, norm_name, pick_copy, walk_data
from emotrack.offline.deam_records import DeamFiles, year_of

UNKNOWN_ID = "unknown-id"  # a problem kind of DEAM alone (the shared ones are datafiles')


def find_deam_files(root: Path) -> DeamFiles:
    """Walk ``root`` for the averaged static label files, the dynamic ``valence.csv`` and
    ``arousal.csv`` and audio files named ``<song_id>.mp3`` (or another audio extension)."""
    root = Path(root)
    static: dict[str, list[Path]] = {}
    dynamic: dict[str, list[Path]] = {"valence": [], "arousal": []}
    audio: dict[int, list[Path]] = {}
    found = DeamFiles(root)
    for folder, names in walk_data(root):
        for name in names:
            path = folder / name
            stem, ext = os.path.splitext(name)
            ext = ext.lower()
            if ext in AUDIO_EXTENSIONS and stem.strip().isdigit():
                song_id = int(stem)
                try:
                    year_of(song_id)
                except ValueError as exc:
                    found.problems.append(
                        Problem(path, None, UNKNOWN_ID, f"{path}: {exc}; rename or remove it")
                    )
                    continue
                audio.setdefault(song_id, []).append(path)
            elif ext == ".csv" and "static" in norm_name(stem):
                static.setdefault(name.lower(), []).append(path)
            elif ext == ".csv" and norm_name(stem) in dynamic:
                dynamic[norm_name(stem)].append(path)
    found.static = [
        pick_copy(name, paths, found.problems) for name, paths in sorted(static.items())
    ]
    for dimension, paths in dynamic.items():
        if paths:
            setattr(found, dimension, pick_copy(f"{dimension}.csv", paths, found.problems))
    found.audio = {
        song_id: pick_copy(f"song {song_id}'s audio", paths, found.problems)
        for song_id, paths in sorted(audio.items())
    }
    return found
