"""DEAM on disk -> one record per song.

:func:`load_deam` walks a folder (any nesting, spaces or underscores in folder names), reads
every label file the way DEAM really ships it (CRLF or LF, a UTF-8 BOM, spaces around names and
values, the 2015 file's 13 columns, wide dynamic files with empty cells and short rows) and reads
each song's duration from its audio header. Columns are matched by name, never by position.
Anything wrong becomes a :class:`Problem` naming the file and line; everything else still loads.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from emotrack.models.audio import AUDIO_EXTENSIONS, WINDOW_SECONDS
from emotrack.models.errors import UserError
from emotrack.offline.datafiles import (  # noqa: F401 - the problem kinds, also importable from here
    BAD_HEADER,
    BAD_ROW,
    DUPLICATE,
    MISSING_FILE,
    SHORT_AUDIO,
    UNREADABLE_AUDIO,
    Problem,
    audio_duration,
    norm_name,
    pick_copy,
    walk_data,
)

FIRST_ID, LAST_ID = 1, 2058
YEAR_LAST_IDS = ((1000, 2013), (2000, 2014), (LAST_ID, 2015))  # (last id, year annotated)
STATIC_RANGE = (1.0, 9.0)  # SAM scale of the song-level means
STD_RANGE = (0.0, 4.0)  # the largest possible spread on 1..9
DYNAMIC_RANGE = (-1.0, 1.0)
LABEL_KINDS = ("static", "dynamic", "both")
DIMENSIONS = ("valence", "arousal")
MISSING_CELLS = {"", "nan", "na", "n/a", "null", "none"}
TRAILING_EMPTY = re.compile(r"[,\s]+$")
SAMPLE_COLUMN = re.compile(r"^sample_?(\d+(?:\.\d+)?)ms$")
DATA_FIX = "point --data-dir at an unpacked DEAM copy, or use --download"
ROW_FIX = "fix or delete the row; the rest of the file was loaded"

# Problem kinds of DEAM alone (the shared ones come from datafiles)
UNKNOWN_ID = "unknown-id"


def year_of(song_id: int) -> int:
    """Year the song was annotated: 2013 (ids <= 1000), 2014 (1001..2000), 2015 (2001..2058)."""
    for last, year in YEAR_LAST_IDS:
        if FIRST_ID <= song_id <= last:
            return year
    raise ValueError(f"song id {song_id} is outside DEAM's {FIRST_ID}..{LAST_ID}")


@dataclass
class Curve:
    """Dynamic labels of one song: times in seconds, values in -1..1 (missing cells dropped)."""

    times: np.ndarray
    values: np.ndarray


@dataclass
class Song:
    """Everything known about one song. Means and stds are on DEAM's 1..9 scale."""

    song_id: int
    year: int
    audio_path: Path | None = None
    duration: float | None = None  # seconds, from the audio header
    valence_mean: float | None = None
    valence_std: float | None = None
    arousal_mean: float | None = None
    arousal_std: float | None = None
    valence_curve: Curve | None = None
    arousal_curve: Curve | None = None

    @property
    def has_static(self) -> bool:
        return self.valence_mean is not None and self.arousal_mean is not None

    @property
    def has_dynamic(self) -> bool:
        return self.valence_curve is not None and self.arousal_curve is not None

    @property
    def has_audio(self) -> bool:
        """Readable audio at least one model window long."""
        return self.duration is not None and self.duration >= WINDOW_SECONDS


@dataclass
class DeamFiles:
    """What a walk of a DEAM folder found."""

    root: Path
    static: list[Path] = field(default_factory=list)
    valence: Path | None = None
    arousal: Path | None = None
    audio: dict[int, Path] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Deam:
    """A loaded DEAM copy: songs by id, and every problem met while loading."""

    root: Path
    songs: dict[int, Song]
    problems: list[Problem]
    files: DeamFiles | None = None

    def labelled(self, kind: str = "static") -> list[Song]:
        """Songs (by id) with ``kind`` labels (static, dynamic or both) and usable audio."""
        if kind not in LABEL_KINDS:
            raise UserError(f"labels must be one of {', '.join(LABEL_KINDS)}, not {kind!r}")
        static, dynamic = kind in ("static", "both"), kind in ("dynamic", "both")
        return [
            song
            for _, song in sorted(self.songs.items())
            if song.has_audio
            and (song.has_static or not static)
            and (song.has_dynamic or not dynamic)
        ]


# ---------------------------------------------------------------------------- finding files


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


# ---------------------------------------------------------------------------- reading labels


def _column(name: str) -> str:
    """Column name for matching: stripped, lower case, no inner spaces (`valence_ max_mean`)."""
    return re.sub(r"\s+", "", name.lower())


def _read_rows(
    path: Path, problems: list[Problem], drop_trailing: bool = False
) -> list[tuple[int, list[str]]]:
    """Non-blank lines of a CSV as (line number, stripped cells); any line ending, BOM or not.
    ``drop_trailing``: leave out empty cells at the end of a line (wide dynamic files)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.append(
            Problem(path, None, MISSING_FILE, f"{path}: cannot read ({exc.strerror}); check it")
        )
        return []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # labels are ASCII; stray bytes fail as bad values
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if drop_trailing:
            line = TRAILING_EMPTY.sub("", line)
        if line.strip():
            cells = next(csv.reader([line]), [])
            rows.append((number, [cell.strip().strip('"').strip() for cell in cells]))
    if not rows:
        problems.append(Problem(path, None, BAD_HEADER, f"{path}: the file is empty; replace it"))
    return rows


def _trim(cells: list[str], width: int) -> list[str]:
    """Drop empty cells past the header's width (a trailing comma is harmless)."""
    end = len(cells)
    while end > width and not cells[end - 1]:
        end -= 1
    return cells[:end]


class _RowError(ValueError):
    """A malformed cell; the message says which and why."""


def _song_id(cell: str) -> int:
    try:
        value = float(cell)
    except ValueError:
        raise _RowError(f"song id {cell!r} is not a number") from None
    if not value.is_integer():
        raise _RowError(f"song id {cell!r} is not a whole number")
    try:
        year_of(int(value))
    except ValueError as exc:
        raise _RowError(str(exc)) from None
    return int(value)


def _number(cell: str, column: str, bounds: tuple[float, float], missing_ok: bool = False) -> float:
    """The cell as a number within ``bounds``; NaN for a missing cell when ``missing_ok``."""
    try:
        value = float(cell)
    except ValueError:
        if missing_ok and cell.lower() in MISSING_CELLS:
            return math.nan
        raise _RowError(f"{column} {cell!r} is not a number") from None
    if math.isnan(value):
        if missing_ok:
            return value
        raise _RowError(f"{column} is missing ({cell!r})")
    if not bounds[0] <= value <= bounds[1]:
        raise _RowError(f"{column} {cell!r} is outside {bounds[0]:g}..{bounds[1]:g}")
    return value


def _row_problem(path: Path, line: int, what: str) -> Problem:
    return Problem(path, line, BAD_ROW, f"{path}, line {line}: {what}; {ROW_FIX}")


def _duplicate_row(path: Path, line: int, song_id: int) -> Problem:
    return Problem(
        path,
        line,
        DUPLICATE,
        f"{path}, line {line}: song {song_id} again; the first row was kept, delete the other",
    )


def _header(
    path: Path,
    rows: list[tuple[int, list[str]]],
    required: tuple[str, ...],
    problems: list[Problem],
) -> dict[str, int] | None:
    """Column index by normalised name, or None (and a problem) when a required one is missing."""
    line, cells = rows[0]
    names = [_column(cell) for cell in cells]
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name, i)
    missing = [name for name in required if name not in index]
    if missing:
        found = ", ".join(repr(cell) for cell in cells[:8]) + (" ..." if len(cells) > 8 else "")
        problems.append(
            Problem(
                path,
                line,
                BAD_HEADER,
                f"{path}, line {line}: no column {', '.join(missing)} (the header has {found}); "
                f"the first line must name the columns ({', '.join(required)}, ...)",
            )
        )
        return None
    return index


@dataclass
class _Static:
    valence_mean: float
    valence_std: float | None
    arousal_mean: float
    arousal_std: float | None


def read_static(path: Path, problems: list[Problem]) -> dict[int, _Static]:
    """Song-level means and stds (1..9) from one averaged static file."""
    rows = _read_rows(path, problems)
    required = ("song_id", "valence_mean", "arousal_mean")
    index = _header(path, rows, required, problems) if rows else None
    if index is None:
        return {}
    width = len(rows[0][1])
    out: dict[int, _Static] = {}
    for line, cells in rows[1:]:
        cells = _trim(cells, width)
        if len(cells) != width:
            problems.append(_row_problem(path, line, f"{len(cells)} values for {width} columns"))
            continue
        try:
            song_id = _song_id(cells[index["song_id"]])
            means = [_number(cells[index[c]], c, STATIC_RANGE) for c in required[1:]]
        except _RowError as exc:
            problems.append(_row_problem(path, line, str(exc)))
            continue
        stds: list[float | None] = []
        for dimension in DIMENSIONS:
            column = f"{dimension}_std"
            if column not in index:
                stds.append(None)
                continue
            try:
                stds.append(_number(cells[index[column]], column, STD_RANGE))
            except _RowError as exc:
                stds.append(None)
                problems.append(
                    Problem(path, line, BAD_ROW, f"{path}, line {line}: {exc}; the mean was kept")
                )
        if song_id in out:
            problems.append(_duplicate_row(path, line, song_id))
            continue
        out[song_id] = _Static(means[0], stds[0], means[1], stds[1])
    return out


def read_dynamic(path: Path, problems: list[Problem]) -> dict[int, Curve]:
    """Per-song curves from a wide dynamic file (`song_id,sample_15000ms,...`, values -1..1).
    Empty cells, `NaN` and short rows are missing values, dropped from the curve."""
    rows = _read_rows(path, problems, drop_trailing=True)
    index = _header(path, rows, ("song_id",), problems) if rows else None
    if index is None:
        return {}
    header_line, header = rows[0]
    columns, times = [], []
    for i, cell in enumerate(header):
        match = SAMPLE_COLUMN.match(_column(cell))
        if match:
            columns.append(i)
            times.append(float(match.group(1)) / 1000.0)
    if not columns or len(set(times)) != len(times):
        problem = "no sample_<ms>ms columns" if not columns else "a sample column appears twice"
        problems.append(
            Problem(
                path,
                header_line,
                BAD_HEADER,
                f"{path}, line {header_line}: {problem}; a dynamic file's header reads "
                "song_id,sample_15000ms,sample_15500ms,...",
            )
        )
        return {}
    order = np.argsort(times)
    times_array = np.asarray(times, dtype=np.float64)[order]
    positions = np.asarray(columns)[order]
    width = len(header)
    out: dict[int, Curve] = {}
    for line, cells in rows[1:]:
        if len(cells) > width:
            problems.append(_row_problem(path, line, f"{len(cells)} values for {width} columns"))
            continue
        try:
            song_id = _song_id(cells[index["song_id"]] if index["song_id"] < len(cells) else "")
            values = np.full(len(positions), np.nan)
            for k in np.flatnonzero(positions < len(cells)):  # short rows: the rest is missing
                column = positions[k]
                values[k] = _number(cells[column], header[column], DYNAMIC_RANGE, missing_ok=True)
        except _RowError as exc:
            problems.append(_row_problem(path, line, str(exc)))
            continue
        keep = ~np.isnan(values)
        if not keep.any():
            problems.append(_row_problem(path, line, f"song {song_id} has no values"))
            continue
        if song_id in out:
            problems.append(_duplicate_row(path, line, song_id))
            continue
        out[song_id] = Curve(times_array[keep], values[keep])
    return out


# ---------------------------------------------------------------------------- loading


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
    static: dict[int, _Static] = {}
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
