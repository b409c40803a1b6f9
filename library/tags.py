"""A song's valence, arousal and mood written into the file's own tags (mutagen).

Custom tags in the conventions MusicBrainz Picard and beets' mediafile use for fields of their
own: ID3 ``TXXX`` frames (MP3, WAV, AIFF), Vorbis comments (FLAC, Ogg Vorbis, Opus) and MP4
freeform atoms (``----:com.apple.iTunes:NAME``, M4A). Only the tags change: mutagen rewrites
the tag block and leaves the audio frames as they were.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from emotrack.library.identity import content_hash

VALENCE, AROUSAL, MOOD = "EMOTRACK_VALENCE", "EMOTRACK_AROUSAL", "EMOTRACK_MOOD"
MP4_PREFIX = "----:com.apple.iTunes:"


class TagError(Exception):
    """Tags that could not be written; the message names the file and why."""


@dataclass(frozen=True)
class FileState:
    """A file after its tags were written."""

    size: int
    mtime_ns: int
    content_hash: str


def tag_values(summary: dict) -> dict[str, str]:
    """The tags for a song summary: means on 1..9 (two decimals) and the mood word."""
    return {
        VALENCE: f"{summary['valence_mean']:.2f}",
        AROUSAL: f"{summary['arousal_mean']:.2f}",
        MOOD: str(summary["mood"]),
    }


def write_tags(path: str | Path, summary: dict) -> FileState:
    """Write the tags (replacing emotrack's earlier ones); TagError if the file's format has
    no tags mutagen can write, or the file cannot be written."""
    import mutagen

    if summary.get("valence_mean") is None:
        raise TagError(f"{path}: no window of music in it (silence); tags not written")
    values = tag_values(summary)
    try:
        audio = mutagen.File(path)
        if audio is None:
            raise TagError(f"{path}: no tag format known for this file; tags not written")
        if audio.tags is None:
            audio.add_tags()
        _set(audio, values)
        audio.save()
    except TagError:
        raise
    except Exception as exc:  # mutagen's errors and OSError alike
        raise TagError(f"{path}: could not write tags ({exc}); check the file") from None
    info = os.stat(path)
    return FileState(info.st_size, info.st_mtime_ns, content_hash(path))


def read_tags(path: str | Path) -> dict[str, str]:
    """emotrack's tags in a file (empty when there are none)."""
    import mutagen
    from mutagen.id3 import ID3
    from mutagen.mp4 import MP4Tags

    audio = mutagen.File(path)
    found: dict[str, str] = {}
    if audio is None or audio.tags is None:
        return found
    for name in (VALENCE, AROUSAL, MOOD):
        if isinstance(audio.tags, ID3):
            frame = audio.tags.get(f"TXXX:{name}")
            value = None if frame is None else frame.text[0]
        elif isinstance(audio.tags, MP4Tags):
            atom = audio.tags.get(MP4_PREFIX + name)
            value = None if not atom else bytes(atom[0]).decode()
        else:
            values = audio.tags.get(name)
            value = values[0] if values else None
        if value is not None:
            found[name] = str(value)
    return found


def _set(audio, values: dict[str, str]) -> None:
    from mutagen.id3 import ID3, TXXX
    from mutagen.mp4 import MP4FreeForm, MP4Tags

    tags = audio.tags
    for name, value in values.items():
        if isinstance(tags, ID3):
            tags.setall(f"TXXX:{name}", [TXXX(encoding=3, desc=name, text=[value])])
        elif isinstance(tags, MP4Tags):
            tags[MP4_PREFIX + name] = [MP4FreeForm(value.encode())]
        else:  # Vorbis comments
            tags[name] = [value]
