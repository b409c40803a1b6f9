"""Mood playlists from a scanned library, as M3U8.

Each mood word of ``emotrack.tracker.output`` is a 45-degree sector of the valence-arousal
plane around (5, 5); its target point lies in the middle of the sector, ``TARGET_RADIUS`` from
the centre (``neutral`` is the centre itself). A mood playlist holds the songs whose mean falls
in the sector, the nearest to the target first. A path playlist (``--from A --to B``) walks the
straight line from A's target to B's: each of N evenly spaced points on it takes the nearest
song not yet taken, and the songs are played in the order of where they sit along the line,
so valence and arousal move one way, step by step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotrack.library.store import Song
from emotrack.models.scale import MIDDLE, MOODS

TARGET_RADIUS = 3.0  # on the 1..9 scale (the plane's edge is 4 from the centre)
NEUTRAL = "neutral"
MOOD_WORDS = (*MOODS, NEUTRAL)


def target(mood: str) -> tuple[float, float]:
    """The (valence, arousal) point a mood word stands for."""
    if mood == NEUTRAL:
        return MIDDLE, MIDDLE
    angle = math.radians(45.0 * MOODS.index(mood) + 22.5)
    return MIDDLE + TARGET_RADIUS * math.cos(angle), MIDDLE + TARGET_RADIUS * math.sin(angle)


def by_mood(songs: Sequence[Song], mood: str, limit: int | None) -> list[Song]:
    """Songs of ``mood`` (by their means), the most typical (nearest the target) first."""
    goal = np.array(target(mood))
    chosen = [s for s in songs if s.mood == mood]
    chosen.sort(key=lambda s: (float(np.hypot(*(np.array((s.valence, s.arousal)) - goal))), s.path))
    return chosen[:limit]


def along_path(songs: Sequence[Song], start: str, end: str, count: int) -> list[Song]:
    """Up to ``count`` songs that take the mood from ``start`` to ``end`` step by step."""
    if not songs or count < 1:
        return []
    a, b = np.array(target(start)), np.array(target(end))
    points = np.array([(s.valence, s.arousal) for s in songs])
    direction = b - a
    length2 = float(direction @ direction)
    if length2 == 0:  # from a mood to itself: the nearest songs to its point
        order = np.argsort(np.hypot(*(points - a).T), kind="stable")
        return [songs[i] for i in order[:count]]
    free = np.ones(len(songs), bool)
    taken: list[int] = []
    for t in np.linspace(0.0, 1.0, min(count, len(songs))):
        distance = np.hypot(*(points - (a + t * direction)).T)
        distance[~free] = np.inf
        best = int(np.argmin(distance))
        free[best] = False
        taken.append(best)
    position = (points[taken] - a) @ direction / length2  # where each sits along the line
    order = np.argsort(position, kind="stable")
    return [songs[taken[i]] for i in order]


def m3u8(songs: Sequence[Song]) -> str:
    """Extended M3U (UTF-8): duration and name per song, emotrack's values in a comment."""
    lines = ["#EXTM3U"]
    for song in songs:
        lines.append(
            f"# emotrack: valence {song.valence:.2f}, arousal {song.arousal:.2f}, {song.mood}"
        )
        lines.append(f"#EXTINF:{round(song.duration)},{Path(song.path).stem}")
        lines.append(song.path)
    return "\n".join(lines) + "\n"
