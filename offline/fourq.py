"""The 4Q audio emotion dataset (Panda, Malheiro & Paiva, IEEE TAFFC 2018) on disk -> clips.

4Q ships as ``MER_audio_taffc_dataset/Q1..Q4/<Song>.mp3`` (about 30 s AllMusic previews, one
Russell quadrant each), ``panda_dataset_taffc_annotations.csv`` (``Song,Quadrant``) and
``panda_dataset_taffc_metadata.csv`` (quoted CSV: Song, Artist, Title, Quadrant, PQuad = the
share of the song's AllMusic mood tags that agree with its quadrant, tags, genres, URL).
:func:`load_fourq` finds both files and the clips by walking a folder (any nesting), reads the
CSVs as they ship (quoted fields, CRLF, a BOM, titles in UTF-8 or Windows-1252 lines), and reports a
missing or unreadable clip, a bad row or an unknown quadrant by name as a :class:`Problem`;
everything else still loads. The annotation file is the authority for a clip's quadrant.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from emotrack.models.audio import AUDIO_EXTENSIONS, WINDOW_SECONDS
from emotrack.models.errors import UserError
from emotrack.offline.datafiles import (
    BAD_HEADER,
    BAD_ROW,
    DUPLICATE,
    MISSING_FILE,
    Problem,
    audio_duration,
    pick_copy,
    walk_data,
)

QUADRANTS = (1, 2, 3, 4)
# Russell's quadrants as signs of (valence, arousal): +1 positive/high, -1 negative/low.
QUADRANT_SIGNS = {1: (1, 1), 2: (-1, 1), 3: (-1, -1), 4: (1, -1)}
SONG_ID = re.compile(r"^MT\d+$", re.IGNORECASE)
QUADRANT_CELL = re.compile(r"^\s*q?\s*([1-4])\s*$", re.IGNORECASE)
DATA_FIX = "point --data-dir at an unpacked 4Q copy (MER_audio_taffc_dataset from mir.dei.uc.pt)"
ROW_FIX = "fix or delete the row; the rest of the file was loaded"

# Problem kinds of 4Q alone (the shared ones come from datafiles)
UNKNOWN_QUADRANT = "unknown-quadrant"
UNLABELLED_AUDIO = "unlabelled-audio"
FOLDER_MISMATCH = "folder-mismatch"


def quadrant_of(valence_positive: bool, arousal_positive: bool) -> int:
    """Signs -> quadrant 1..4 (Q1 v+ a+, Q2 v- a+, Q3 v- a-, Q4 v+ a-)."""
    if arousal_positive:
        return 1 if valence_positive else 2
    return 4 if valence_positive else 3


@dataclass
class FourQClip:
    """One 4Q clip. ``confidence`` is PQuad (0..1) when the metadata gives it."""

    song: str  # e.g. "MT0000040632"
    quadrant: int | None = None  # 1..4
    artist: str | None = None
    title: str | None = None
    confidence: float | None = None
    genres: tuple[str, ...] = ()
    audio_path: Path | None = None
    duration: float | None = None  # seconds, from the audio header

    @property
    def signs(self) -> tuple[int, int]:
        """(valence, arousal) signs of the quadrant, +1 or -1."""
        return QUADRANT_SIGNS[self.quadrant]

    @property
    def usable(self) -> bool:
        """A quadrant and readable audio at least one model window long."""
        return (
            self.quadrant is not None
            and self.duration is not None
            and self.duration >= WINDOW_SECONDS
        )


@dataclass
class FourQFiles:
    """What a walk of a 4Q folder found."""

    root: Path
    annotations: Path | None = None
    metadata: Path | None = None
    audio: dict[str, Path] = field(default_factory=dict)  # song -> file
    folders: dict[str, int] = field(default_factory=dict)  # song -> quadrant of its Qn folder
    problems: list[Problem] = field(default_factory=list)


@dataclass
class FourQ:
    """A loaded 4Q copy: clips by song id, and every problem met while loading."""

    root: Path
    clips: dict[str, FourQClip]
    problems: list[Problem]
    files: FourQFiles | None = None

    def usable(self) -> list[FourQClip]:
        """Clips with a quadrant and usable audio, by song id."""
        return [clip for _, clip in sorted(self.clips.items()) if clip.usable]


# ---------------------------------------------------------------------------- finding files


def is_fourq_folder(root: Path) -> bool:
    """Whether ``root`` holds a 4Q annotation (or metadata) file at any depth (how `audit`
    tells datasets); either gives the quadrants :func:`load_fourq` reads."""
    files = find_fourq_files(root, audio=False)
    return files.annotations is not None or files.metadata is not None


def _csv_role(path: Path) -> str | None:
    """ "annotations" or "metadata" by the header's column names, else None."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(4096)
    except OSError:
        return None
    names = {_column(cell) for cell in next(csv.reader([_decode(first)]), [])}
    if not {"song", "quadrant"} <= names:
        return None
    return "metadata" if "artist" in names else "annotations"


def _folder_quadrant(folder: Path) -> int | None:
    match = re.fullmatch(r"q([1-4])", folder.name.strip().lower())
    return int(match.group(1)) if match else None


def find_fourq_files(root: Path, audio: bool = True) -> FourQFiles:
    """Walk ``root`` for the annotation and metadata CSVs (recognised by their columns) and,
    with ``audio``, clips named ``<Song>.mp3`` (or another audio extension)."""
    root = Path(root)
    found = FourQFiles(root)
    tables: dict[str, list[Path]] = {"annotations": [], "metadata": []}
    clips: dict[str, list[Path]] = {}
    for folder, names in walk_data(root):
        for name in names:
            path = folder / name
            stem, ext = os.path.splitext(name)
            if ext.lower() == ".csv":
                role = _csv_role(path)
                if role is not None:
                    tables[role].append(path)
            elif audio and ext.lower() in AUDIO_EXTENSIONS and SONG_ID.match(stem.strip()):
                song = stem.strip().upper()
                clips.setdefault(song, []).append(path)
                quadrant = _folder_quadrant(folder)
                if quadrant is not None:
                    found.folders.setdefault(song, quadrant)
    for role, paths in tables.items():
        if paths:
            setattr(found, role, pick_copy(f"the 4Q {role} file", paths, found.problems))
    found.audio = {
        song: pick_copy(f"clip {song}", paths, found.problems)
        for song, paths in sorted(clips.items())
    }
    return found


# ---------------------------------------------------------------------------- reading tables


def _decode(data: bytes) -> str:
    """UTF-8 (a BOM dropped); a line that is not UTF-8 is read as Windows-1252, as titles in
    some exports are (one bad byte costs that line's accents, not the file)."""
    lines = []
    for line in data.split(b"\n"):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(line.decode("cp1252", errors="replace"))
    return "\n".join(lines).removeprefix("\ufeff")


def _column(name: str) -> str:
    return re.sub(r"\s+", "", name.strip().strip('"').lower())


def _read_table(path: Path, problems: list[Problem]) -> tuple[dict[str, int], list] | None:
    """(column index by normalised name, [(line, cells)]) of a quoted CSV, or None."""
    try:
        text = _decode(path.read_bytes())
    except OSError as exc:
        problems.append(
            Problem(path, None, MISSING_FILE, f"{path}: cannot read ({exc.strerror}); check it")
        )
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((reader.line_num, [cell.strip() for cell in cells]))
    except csv.Error as exc:
        problems.append(
            Problem(
                path,
                reader.line_num,
                BAD_ROW,
                f"{path}, line {reader.line_num}: {exc}; the rows after it were not read, "
                "fix the quoting",
            )
        )
    if not rows:
        problems.append(Problem(path, None, BAD_HEADER, f"{path}: the file is empty; replace it"))
        return None
    line, header = rows[0]
    index: dict[str, int] = {}
    for i, cell in enumerate(header):
        index.setdefault(_column(cell), i)
    missing = [name for name in ("song", "quadrant") if name not in index]
    if missing:
        problems.append(
            Problem(
                path,
                line,
                BAD_HEADER,
                f"{path}, line {line}: no column {', '.join(missing)}; the first line must "
                "name the columns (Song, Quadrant, ...)",
            )
        )
        return None
    return index, rows[1:]


def _quadrant(cell: str) -> int:
    match = QUADRANT_CELL.match(cell)
    if not match:
        raise ValueError(f"quadrant {cell!r} is not one of Q1, Q2, Q3, Q4")
    return int(match.group(1))


def _cell(cells: list[str], index: dict[str, int], name: str) -> str | None:
    i = index.get(name)
    return cells[i] if i is not None and i < len(cells) and cells[i] else None


def read_annotations(path: Path, problems: list[Problem]) -> dict[str, int]:
    """Song -> quadrant from ``Song,Quadrant`` rows (the metadata file has them too)."""
    table = _read_table(path, problems)
    if table is None:
        return {}
    index, rows = table
    out: dict[str, int] = {}
    for line, cells in rows:
        song = (_cell(cells, index, "song") or "").upper()
        if not SONG_ID.match(song):
            what = f"song {song!r} is not a 4Q id (MT followed by digits)" if song else "no song"
            problems.append(Problem(path, line, BAD_ROW, f"{path}, line {line}: {what}; {ROW_FIX}"))
            continue
        cell = _cell(cells, index, "quadrant")
        if cell is None:
            problems.append(
                Problem(path, line, BAD_ROW, f"{path}, line {line}: {song}: no quadrant; {ROW_FIX}")
            )
            continue
        try:
            quadrant = _quadrant(cell)
        except ValueError as exc:
            problems.append(
                Problem(
                    path, line, UNKNOWN_QUADRANT, f"{path}, line {line}: {song}: {exc}; {ROW_FIX}"
                )
            )
            continue
        if song in out:
            problems.append(
                Problem(
                    path,
                    line,
                    DUPLICATE,
                    f"{path}, line {line}: {song} again; the first row was kept, delete the other",
                )
            )
            continue
        out[song] = quadrant
    return out


def read_metadata(path: Path, problems: list[Problem]) -> dict[str, FourQClip]:
    """Song -> clip with artist, title, PQuad and genres (quadrant as the file says)."""
    table = _read_table(path, problems)
    if table is None:
        return {}
    index, rows = table
    out: dict[str, FourQClip] = {}
    for line, cells in rows:
        song = (_cell(cells, index, "song") or "").upper()
        if not SONG_ID.match(song) or song in out:
            continue  # reported by read_annotations when this file is the one with quadrants
        confidence = None
        if (text := _cell(cells, index, "pquad")) is not None:
            try:
                confidence = float(text)
            except ValueError:
                confidence = None
            if confidence is not None and not 0.0 <= confidence <= 1.0:
                confidence = None
            if confidence is None:
                problems.append(
                    Problem(
                        path,
                        line,
                        BAD_ROW,
                        f"{path}, line {line}: {song}: PQuad {text!r} is not a share 0..1; "
                        "the clip is kept without it",
                    )
                )
        genres = tuple(g.strip() for g in (_cell(cells, index, "genresstr") or "").split(";"))
        out[song] = FourQClip(
            song,
            artist=_cell(cells, index, "artist"),
            title=_cell(cells, index, "title"),
            confidence=confidence,
            genres=tuple(g for g in genres if g),
        )
    return out


# ---------------------------------------------------------------------------- loading


def load_fourq(root: Path, progress: bool = False) -> FourQ:
    """Find and read a 4Q copy under ``root``. UserError only when nothing usable is there."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; {DATA_FIX}")
    files = find_fourq_files(root)
    problems = list(files.problems)
    labels_from = files.annotations or files.metadata
    if labels_from is None:
        raise UserError(
            f"{root}: no 4Q annotation file found (a CSV with Song and Quadrant columns, e.g. "
            f"panda_dataset_taffc_annotations.csv, at any depth); {DATA_FIX}"
        )
    quadrants = read_annotations(labels_from, problems)
    metadata = read_metadata(files.metadata, problems) if files.metadata else {}
    if files.metadata is None:
        problems.append(
            Problem(
                root,
                None,
                MISSING_FILE,
                f"{root}: no 4Q metadata file (panda_dataset_taffc_metadata.csv) found, so "
                "clips have no artist: splits cannot keep an artist on one side; add the file",
            )
        )
    clips: dict[str, FourQClip] = {}
    for song, quadrant in sorted(quadrants.items()):
        clip = metadata.get(song) or FourQClip(song)
        clip.quadrant = quadrant
        clips[song] = clip
        folder = files.folders.get(song)
        if folder is not None and folder != quadrant:
            problems.append(
                Problem(
                    files.audio[song],
                    None,
                    FOLDER_MISMATCH,
                    f"{files.audio[song]}: in folder Q{folder} but {labels_from.name} says "
                    f"Q{quadrant}; the annotation file was followed",
                )
            )
    for song in sorted(set(quadrants) - set(files.audio)):
        problems.append(
            Problem(
                root,
                None,
                MISSING_FILE,
                f"{song}: annotated Q{quadrants[song]} but no audio file {song}.mp3 under {root}; "
                "the clip is left out, restore the file",
            )
        )
    for song in sorted(set(files.audio) - set(quadrants)):
        problems.append(
            Problem(
                files.audio[song],
                None,
                UNLABELLED_AUDIO,
                f"{files.audio[song]}: no quadrant for {song} in {labels_from.name}; not used",
            )
        )
    audio = [(song, path) for song, path in files.audio.items() if song in clips]
    bar = tqdm(
        audio, desc="reading audio headers", unit="file", file=sys.stderr, disable=not progress
    )
    for song, path in bar:
        clips[song].audio_path = path
        clips[song].duration = audio_duration(path, problems, "clip")
    return FourQ(root, clips, problems, files)
