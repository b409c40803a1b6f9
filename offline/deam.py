"""DEAM on disk -> one record per song.

:func:`load_deam` finds the files of a copy (``offline.deam_files``), reads every label file
(``offline.deam_labels``) and each song's duration from its audio header, and joins them into
:class:`~emotrack.offline.deam_records.Song` records. Anything wrong becomes a
:class:`~emotrack.offline.datafiles.Problem` naming the file and line; everything else still
loads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from emotrack.models.errors import UserError
from emotrack.offline.datafiles import DUPLICATE, MISSING_FILE, Problem, audio_duration
from emotrack.offline.deam_files import find_deam_files
from emotrack.offline.deam_labels import Static, read_dynamic, read_static
from emotrack.offline.deam_records import DIMENSIONS, Curve, Deam, Song, year_of

DATA_FIX = "point --data-dir at an unpacked DEAM copy, or use --download"


def _missing(root: Path, what: str, lost: str) -> Problem:
    return Problem(
        root,
        None,
        MISSING_FILE,
        f"{root}: no {what} found at any depth, so {lost}; point --data-dir at a DEAM copy "
        "that has it, or use --download",
    )


def load_deam(root: Path, progress: bool = False) -> Deam:
    """Find and read a DEAM copy under ``root``. UserError only when nothing usable is there."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; {DATA_FIX}")
    files = find_deam_files(root)
    if not (files.static or files.valence or files.arousal or files.audio):
        raise UserError(
            f"{root}: no DEAM data found (looked for static_annotations_averaged_songs_*.csv, "
            f"dynamic valence.csv/arousal.csv and audio named <song_id>.mp3 at any depth); "
            f"{DATA_FIX}"
        )
    problems = list(files.problems)
    if not files.static:
        problems.append(
            _missing(root, "static_annotations_averaged_songs_*.csv", "no song has static labels")
        )
    static: dict[int, Static] = {}
    for path in files.static:
        rows = read_static(path, problems)
        again = sorted(set(rows) & set(static))
        if again:
            problems.append(
                Problem(
                    path,
                    None,
                    DUPLICATE,
                    f"{path}: {len(again)} songs (e.g. {', '.join(map(str, again[:5]))}) are also "
                    "in an earlier static file; the earlier rows were kept, delete one copy",
                )
            )
        static |= {song_id: row for song_id, row in rows.items() if song_id not in static}
    curves: dict[str, dict[int, Curve]] = {}
    for dimension in DIMENSIONS:
        path = getattr(files, dimension)
        if path is None:
            problems.append(
                _missing(root, f"dynamic {dimension}.csv", f"no song has {dimension} curves")
            )
        curves[dimension] = read_dynamic(path, problems) if path else {}
    if not files.audio:
        problems.append(_missing(root, "audio named <song_id>.mp3", "no song can be used"))

    songs = {
        song_id: Song(song_id, year_of(song_id))
        for song_id in sorted(set(static) | set(files.audio) | set().union(*curves.values()))
    }
    for song_id, row in static.items():
        song = songs[song_id]
        song.valence_mean, song.valence_std = row.valence_mean, row.valence_std
        song.arousal_mean, song.arousal_std = row.arousal_mean, row.arousal_std
    for song_id, curve in curves["valence"].items():
        songs[song_id].valence_curve = curve
    for song_id, curve in curves["arousal"].items():
        songs[song_id].arousal_curve = curve
    audio = tqdm(
        files.audio.items(),
        desc="reading audio headers",
        unit="file",
        file=sys.stderr,
        disable=not progress,
    )
    for song_id, path in audio:
        songs[song_id].audio_path = path
        songs[song_id].duration = audio_duration(path, problems)
    return Deam(root, songs, problems, files)


# ---------------------------------------------------------------------------- CLI glue


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """`--data-dir DIR` / `--download`: where DEAM comes from."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="an unpacked DEAM copy (any nesting: annotations and audio are found by walking)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="get DEAM from Kaggle through kagglehub (network and Kaggle credentials; cached in "
        "KAGGLEHUB_CACHE, default ~/.cache/kagglehub)",
    )


def find_deam_root(data_dir: Path | None = None, download: bool = False) -> Path:
    """The folder to load: ``data_dir`` as given, or the kagglehub copy with ``download``."""
    if data_dir is not None and download:
        raise UserError("give either --data-dir DIR or --download, not both")
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise UserError(f"--data-dir {path}: no such folder; {DATA_FIX}")
        return path
    if download:
        from emotrack.offline.download import download_deam

        return download_deam()
    raise UserError(
        "no DEAM data given: use --data-dir DIR (an unpacked DEAM copy) or --download "
        "(from Kaggle; needs network and Kaggle credentials)"
    )
