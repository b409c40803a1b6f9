"""The one writer: finished songs become rows, committed in transactions, counted in the
report; with tags on, each song's values also go into its file. Used by the local pipeline's
writer thread and by the Ray driver."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from emotrack.library.store import SongRow, Store
from emotrack.library.tags import TagError, write_tags

COMMIT_SECONDS = 1.0  # a transaction at least this often...
COMMIT_SONGS = 64  # ...or every this many songs
FAILURES_SHOWN = 20


@dataclass
class ScanReport:
    """What one scan did."""

    ok: int = 0
    failed: int = 0
    unchanged: int = 0  # changed size or time, same content: results kept
    tagged: int = 0
    tag_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the first FAILURES_SHOWN reasons
    audio_seconds: float = 0.0
    windows: int = 0
    wall_seconds: float = 0.0
    interrupted: str | None = None  # "interrupted" (Ctrl+C) or "terminated" (SIGTERM)

    @property
    def songs(self) -> int:
        return self.ok + self.failed + self.unchanged

    @property
    def realtime_factor(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def songs_per_hour(self) -> float:
        return 3600.0 * self.songs / self.wall_seconds if self.wall_seconds > 0 else 0.0


class RowWriter:
    """Rows into ``store``: a transaction every ``commit_songs`` songs or ``commit_seconds``
    (call :meth:`tick` now and then), the rest on :meth:`flush`. ``on_song(report)`` after
    each song."""

    def __init__(
        self,
        store: Store,
        report: ScanReport,
        write_tags: bool = False,
        on_song: Callable[[ScanReport], None] | None = None,
        commit_seconds: float = COMMIT_SECONDS,
        commit_songs: int = COMMIT_SONGS,
    ) -> None:
        self.store, self.report, self.tags = store, report, write_tags
        self.on_song = on_song or (lambda report: None)
        self.commit_seconds, self.commit_songs = commit_seconds, commit_songs
        self._pending: list[SongRow] = []
        self._last = time.monotonic()

    def ok(self, row: SongRow) -> None:
        self.report.ok += 1
        self.report.windows += len(row.timeline)
        self.report.audio_seconds += row.duration
        if self.tags:
            self._tag(row)
        self._add(row)

    def failed(self, row: SongRow) -> None:
        self.report.failed += 1
        if len(self.report.failures) < FAILURES_SHOWN:
            self.report.failures.append(row.error)
        self._add(row)

    def unchanged(self, path: str, size: int, mtime_ns: int) -> None:
        self.store.touch(path, size, mtime_ns)
        self.report.unchanged += 1
        self.on_song(self.report)

    def tick(self) -> None:
        due = time.monotonic() - self._last >= self.commit_seconds
        if self._pending and (len(self._pending) >= self.commit_songs or due):
            self.flush()

    def flush(self) -> None:
        self.store.write(self._pending)
        self._pending, self._last = [], time.monotonic()

    def _add(self, row: SongRow) -> None:
        self._pending.append(row)
        self.on_song(self.report)
        self.tick()

    def _tag(self, row: SongRow) -> None:
        """Write the song's values into its own tags; the row then describes the tagged file
        (size, time and hash), so the next scan sees it unchanged."""
        try:
            after = write_tags(row.path, row.summary)
        except TagError as exc:
            self.report.tag_errors.append(str(exc))
            return
        row.size, row.mtime_ns, row.content_hash = after.size, after.mtime_ns, after.content_hash
        row.tagged_hash = after.content_hash
        self.report.tagged += 1
