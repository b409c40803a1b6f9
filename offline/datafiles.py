"""What every dataset reader shares: problems that name their file and line, a walk of a data
folder that finds files whatever the nesting, and the check of an audio file's length."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from emotrack.models.audio import WINDOW_SECONDS, audio_info
from emotrack.models.errors import UserError

# Problem kinds every reader uses
MISSING_FILE = "missing-file"
BAD_HEADER = "bad-header"
BAD_ROW = "bad-row"
DUPLICATE = "duplicate"
UNREADABLE_AUDIO = "unreadable-audio"
SHORT_AUDIO = "short-audio"


@dataclass
class Problem:
    """Something wrong in the data; ``message`` names the file (and line) and the fix."""

    path: Path | None
    row: int | None  # 1-based line in ``path``
    kind: str
    message: str

    def to_dict(self) -> dict:
        return {
            "path": None if self.path is None else str(self.path),
            "row": self.row,
            "kind": self.kind,
            "message": self.message,
        }


def norm_name(name: str) -> str:
    """Folder/file name for matching: lower case, `_`/`-` as spaces, spaces collapsed."""
    return " ".join(re.sub(r"[_\-]+", " ", name.lower()).split())


def skipped_name(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def walk_data(root: Path):
    """(folder, file names) under root, sorted, following links once, skipping per-rater data."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        parts = Path(dirpath).relative_to(root).parts
        if real in seen or any(re.search(r"\brater", norm_name(part)) for part in parts):
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not skipped_name(d))
        yield Path(dirpath), sorted(f for f in filenames if not skipped_name(f))


def pick_copy(role: str, paths: list[Path], problems: list[Problem]) -> Path:
    """The shallowest of several copies of one file; the others are reported."""
    ordered = sorted(paths, key=lambda p: (len(p.parts), str(p)))
    for other in ordered[1:]:
        problems.append(
            Problem(
                other,
                None,
                DUPLICATE,
                f"{other}: another copy of {role}; using {ordered[0]} (remove one copy)",
            )
        )
    return ordered[0]


def audio_duration(path: Path, problems: list[Problem], what: str = "song") -> float | None:
    """Seconds of audio by the file's header, or None; an unreadable file, or one shorter than
    a model window, is reported (``what``: "song" or "clip", as the message names it)."""
    try:
        info = audio_info(path)
    except UserError as exc:
        problems.append(Problem(path, None, UNREADABLE_AUDIO, f"{exc}; the {what} is left out"))
        return None
    if info.samplerate <= 0 or info.frames <= 0:
        problems.append(
            Problem(path, None, UNREADABLE_AUDIO, f"{path}: no audio in the file; replace it")
        )
        return None
    duration = info.frames / info.samplerate
    if duration < WINDOW_SECONDS:
        problems.append(
            Problem(
                path,
                None,
                SHORT_AUDIO,
                f"{path}: {duration:.2f} s is shorter than one {WINDOW_SECONDS:g} s window; "
                f"the {what} is left out, replace the file",
            )
        )
    return duration
