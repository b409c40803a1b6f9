"""The library database: one SQLite file (standard library, WAL), one row per song.

A row holds the file's path, size, modification time and content hash, the decoded duration,
the id of the model that tracked it, the status (``ok``, or ``failed`` with a one-line
reason), the song's summary (key columns plus the whole of
``emotrack.tracker.output.summarise`` as JSON) and its per-window timeline (float32 valence,
arousal pairs, one window every ``hop_seconds``, the first ending at 5 s). Rows are written in
transactions, so a process killed at any moment leaves every committed row whole and no half
row; rerunning the scan redoes only what was not committed.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from emotrack.models.audio import WINDOW_SECONDS
from emotrack.models.errors import UserError
from emotrack.models.scale import QUADRANTS

DB_ENV = "EMOTRACK_DB"  # a default for --db
DB_NAME = "library.db"
SCHEMA_VERSION = 1
BUSY_SECONDS = 30.0  # wait this long for another process's write to finish
SUMMARY_COLUMNS = tuple(
    f"{dim}_{stat}" for dim in ("valence", "arousal") for stat in ("mean", "std", "min", "max")
)
SHARE_COLUMNS = tuple(f"share_{name.replace('/', '_')}" for name in QUADRANTS)
_REAL = ", ".join(f"{name} REAL" for name in SUMMARY_COLUMNS + SHARE_COLUMNS)
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    description TEXT NOT NULL,
    hop_seconds REAL NOT NULL,
    first_used TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS songs (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT,
    duration REAL,
    model_id TEXT NOT NULL REFERENCES models(id),
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT,
    {_REAL},
    mood TEXT,
    summary TEXT,
    hop_seconds REAL,
    timeline BLOB,
    tagged_hash TEXT,
    scanned_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS songs_by_mood ON songs (mood);
"""
SONG_COLUMNS = (
    "path",
    "size",
    "mtime_ns",
    "content_hash",
    "duration",
    "model_id",
    "status",
    "error",
    *SUMMARY_COLUMNS,
    *SHARE_COLUMNS,
    "mood",
    "summary",
    "hop_seconds",
    "timeline",
    "tagged_hash",
    "scanned_at",
)


class StoreError(UserError):
    """The database cannot be opened or written; the message names the file and the fix."""


def default_db() -> Path:
    """``--db`` when not given: ``$EMOTRACK_DB``, else ``library.db`` in the user's data
    folder (``$XDG_DATA_HOME/emotrack``, by default ``~/.local/share/emotrack``)."""
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or "~/.local/share"
    return Path(data).expanduser() / "emotrack" / DB_NAME


@dataclass(frozen=True)
class Known:
    """What the database knows about a path (to decide whether to scan it again)."""

    size: int
    mtime_ns: int
    content_hash: str | None
    model_id: str
    status: str
    tagged_hash: str | None


@dataclass
class SongRow:
    """One song as the scan writes it. ``summary`` is ``asdict(summarise(timeline))``;
    ``timeline`` is (windows, 2) valence, arousal on 1..9."""

    path: str
    size: int
    mtime_ns: int
    content_hash: str | None
    model_id: str
    status: str  # "ok" or "failed"
    error: str | None = None
    duration: float | None = None
    summary: dict | None = None
    hop_seconds: float | None = None
    timeline: np.ndarray | None = None
    tagged_hash: str | None = None

    def values(self) -> tuple:
        summary = self.summary or {}
        shares = summary.get("quadrant_share", {})
        blob = None
        if self.timeline is not None:
            blob = np.ascontiguousarray(self.timeline, dtype="<f4").tobytes()
        return (
            self.path,
            self.size,
            self.mtime_ns,
            self.content_hash,
            self.duration,
            self.model_id,
            self.status,
            self.error,
            *(summary.get(name) for name in SUMMARY_COLUMNS),
            *(shares.get(name) for name in QUADRANTS),
            summary.get("mood"),
            None if self.summary is None else json.dumps(self.summary, allow_nan=False),
            self.hop_seconds,
            blob,
            self.tagged_hash,
            _now(),
        )


@dataclass(frozen=True)
class Song:
    """A tracked song as playlists and the browser read it."""

    path: str
    duration: float
    valence: float  # means over the song, 1..9
    arousal: float
    mood: str
    model_id: str


class Store:
    """An open library database. Not shared between threads at the same time."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    @classmethod
    def open(cls, path: str | Path, write: bool = True) -> Store:
        """Open (and with ``write``, create) the database; StoreError if that cannot be done.
        Opening for writing checks that a write succeeds, so a read-only file or folder is
        reported before any work starts."""
        path = Path(path).expanduser()
        if path.is_dir():
            raise StoreError(f"--db {path} is a folder; give a file name inside it")
        if not write and not path.is_file():
            raise StoreError(
                f"{path}: no library database here; scan music into it first with "
                f"`emotrack scan FOLDER --db {path}`"
            )
        try:
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"{path}: cannot create its folder ({exc.strerror}); choose another --db"
            ) from None
        with _errors(path, "open"):
            uri = f"{path.absolute().as_uri()}?mode={'rwc' if write else 'ro'}"
            connection = sqlite3.connect(
                uri, uri=True, timeout=BUSY_SECONDS, check_same_thread=False
            )
        store = cls(path, connection)
        try:
            with _errors(path, "open"):
                store._prepare(write)
        except BaseException:
            connection.close()
            raise
        return store

    def _prepare(self, write: bool) -> None:
        db = self._db
        if write:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash never corrupts or half-writes
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "meta" in tables:
            found = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            version = int(found[0]) if found else None
            if version != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: library database version {version}, this emotrack reads "
                    f"version {SCHEMA_VERSION}; use another --db (or the emotrack that made it)"
                )
        elif tables:
            raise StoreError(
                f"{self.path}: an SQLite database, but not an emotrack library; choose "
                "another file with --db"
            )
        elif not write:
            raise StoreError(f"{self.path}: an empty database; scan music into it first")
        if write:
            with self._db:  # the schema, and proof that this file can be written
                db.executescript(SCHEMA)
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------ writing

    def add_model(self, model_id: str, path: str, description: str, hop_seconds: float) -> None:
        with _errors(self.path, "write"), self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO models VALUES (?, ?, ?, ?, ?)",
                (model_id, path, description, hop_seconds, _now()),
            )

    def write(self, rows: list[SongRow]) -> None:
        """Insert or replace ``rows`` in one transaction: all of them are committed, or none."""
        if not rows:
            return
        marks = ", ".join("?" * len(SONG_COLUMNS))
        sql = f"INSERT OR REPLACE INTO songs ({', '.join(SONG_COLUMNS)}) VALUES ({marks})"
        with _errors(self.path, "write"), self._db:
            self._db.executemany(sql, [row.values() for row in rows])

    def touch(self, path: str, size: int, mtime_ns: int, tagged_hash: str | None = None) -> None:
        """A file whose content is unchanged (same hash) but whose size or time changed (its
        tags were edited): note the new size and time, keep the results."""
        with _errors(self.path, "write"), self._db:
            self._db.execute(
                "UPDATE songs SET size = ?, mtime_ns = ?, "
                "content_hash = COALESCE(?, content_hash), "
                "tagged_hash = COALESCE(?, tagged_hash) WHERE path = ?",
                (size, mtime_ns, tagged_hash, tagged_hash, path),
            )

    # ------------------------------------------------------------------------ reading

    def lookup(self, path: str) -> Known | None:
        with _errors(self.path, "read"):
            row = self._db.execute(
                "SELECT size, mtime_ns, content_hash, model_id, status, tagged_hash "
                "FROM songs WHERE path = ?",
                (path,),
            ).fetchone()
        return None if row is None else Known(*row)

    def counts(self) -> dict[str, int]:
        """Songs per status."""
        with _errors(self.path, "read"):
            rows = self._db.execute("SELECT status, COUNT(*) FROM songs GROUP BY status")
            return dict(rows.fetchall())

    def songs(self) -> Iterator[Song]:
        """Every song tracked ok that holds music (not only silence), by path."""
        with _errors(self.path, "read"):
            rows = self._db.execute(
                "SELECT path, duration, valence_mean, arousal_mean, mood, model_id "
                "FROM songs WHERE status = 'ok' AND valence_mean IS NOT NULL ORDER BY path"
            ).fetchall()
        return (Song(*row) for row in rows)

    def failures(self) -> list[tuple[str, str]]:
        """(path, reason) of every song that failed, by path."""
        with _errors(self.path, "read"):
            rows = self._db.execute(
                "SELECT path, error FROM songs WHERE status = 'failed' ORDER BY path"
            )
            return rows.fetchall()

    def row(self, path: str) -> dict | None:
        """Everything stored about one song (summary decoded from JSON), or None."""
        with _errors(self.path, "read"):
            cursor = self._db.execute("SELECT * FROM songs WHERE path = ?", (path,))
            found = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        if found is None:
            return None
        row = dict(zip(names, found, strict=True))
        row["summary"] = None if row["summary"] is None else json.loads(row["summary"])
        row["timeline"] = None if row["timeline"] is None else _values(row["timeline"])
        return row

    def timeline(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        """(times, values): each window's end in seconds and its (valence, arousal)."""
        row = self.row(path)
        if row is None or row["timeline"] is None:
            return np.zeros(0), np.zeros((0, 2), np.float32)
        values = row["timeline"]
        return WINDOW_SECONDS + row["hop_seconds"] * np.arange(len(values)), values


def _values(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").reshape(-1, 2).astype(np.float32)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _errors:
    """sqlite3 errors as StoreError naming the file, what failed and the fix."""

    def __init__(self, path: Path, doing: str) -> None:
        self.path, self.doing = path, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, trace) -> bool:
        if exc is None or not isinstance(exc, sqlite3.Error):
            return False
        message = f"{self.path}: cannot {self.doing} the database ({exc}); {_fix(exc)}"
        raise StoreError(message) from None


def _fix(exc: sqlite3.Error) -> str:
    text = str(exc).lower()
    kept = "everything committed so far is kept; rerun to go on"
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return "make the file and its folder writable, or choose another file with --db"
    if "full" in text or "i/o" in text:
        return f"free some disk space or choose another file with --db ({kept})"
    if "locked" in text or "busy" in text:
        return f"another process is writing it; wait for it or use another --db ({kept})"
    if "not a database" in text or "malformed" in text:
        return "it is not an intact emotrack library; choose another file with --db"
    return f"check the file, or choose another one with --db ({kept})"
