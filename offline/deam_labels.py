"""DEAM's label files, read the way DEAM really ships them: CRLF or LF, a UTF-8 BOM, spaces
around names and values, the 2015 file's 13 columns, wide dynamic files with empty cells and
short rows. Columns are matched by name, never by position; a bad row becomes a
:class:`~emotrack.offline.datafiles.Problem` naming the file and line."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotrack.offline.datafiles import BAD_HEADER, BAD_ROW, DUPLICATE, MISSING_FILE, Problem
from emotrack.offline.deam_records import (
    DIMENSIONS,
    DYNAMIC_RANGE,
    STATIC_RANGE,
    STD_RANGE,
    Curve,
    year_of,
)

MISSING_CELLS = {"", "nan", "na", "n/a", "null", "none"}
TRAILING_EMPTY = re.compile(r"[,\s]+$")
SAMPLE_COLUMN = re.compile(r"^sample_?(\d+(?:\.\d+)?)ms$")
ROW_FIX = "fix or delete the row; the rest of the file was loaded"


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
class Static:
    """One song's row of a static file (1..9; a std None where the file has none)."""

    valence_mean: float
    valence_std: float | None
    arousal_mean: float
    arousal_std: float | None


def read_static(path: Path, problems: list[Problem]) -> dict[int, Static]:
    """Song-level means and stds (1..9) from one averaged static file."""
    rows = _read_rows(path, problems)
    required = ("song_id", "valence_mean", "arousal_mean")
    index = _header(path, rows, required, problems) if rows else None
    if index is None:
        return {}
    width = len(rows[0][1])
    out: dict[int, Static] = {}
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
        out[song_id] = Static(means[0], stds[0], means[1], stds[1])
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
