"""Tracking without a UI: :func:`track_file` runs one file start to end (what headless mode,
batches and `emotrack bench` use), and :class:`TrackResult` is what a tracked file or live
session comes to (:func:`result_of` takes it from a tracker)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from emotrack.models.audio import TRACK_STEP_SECONDS, AudioError
from emotrack.tracker.engine import Engine
from emotrack.tracker.file_source import FileSource
from emotrack.tracker.session import Estimate, Tracker, TrackerStats


@dataclass
class TrackResult:
    """One tracked file (or live session): its timeline, stats and what went wrong."""

    name: str
    timeline: list[Estimate] = field(default_factory=list)
    stats: TrackerStats | None = None
    error: str | None = None  # None: all went well
    overflows: int = 0
    interrupted: bool = False  # stopped by Ctrl+C or SIGTERM: the timeline is what was tracked
    warnings: list[str] = field(default_factory=list)  # damage survived, low bandwidth, ...
    unopened: bool = False  # the file could not even be opened (missing, unreadable, short)


def result_of(tracker: Tracker, name: str | None = None) -> TrackResult:
    """Snapshot of a (stopped or finished) tracker; ``name`` defaults to the source's."""
    status = tracker.source_status()
    errors = tracker.errors
    timeline = tracker.timeline
    warnings = tracker.source.problems()
    bandwidth = tracker.bandwidth.warning(getattr(tracker.source, "rate", None))
    if bandwidth and any(e.music for e in timeline):
        warnings.append(bandwidth)
    if timeline and not any(e.music for e in timeline) and not errors:
        errors = [f"{name or status.name}: no music: {_not_music(timeline)}; nothing to track"]
    return TrackResult(
        name=name or status.name,
        timeline=timeline,
        stats=tracker.stats(),
        error="; ".join(errors) if errors else None,
        overflows=status.overflows,
        warnings=warnings,
    )


def _not_music(timeline: list[Estimate]) -> str:
    counts: dict[str, int] = {}
    for estimate in timeline:
        for flag in estimate.flags:
            counts[flag] = counts.get(flag, 0) + 1
    return "every window is " + " or ".join(
        f"{flag} ({count} of {len(timeline)})" for flag, count in counts.items()
    )


def track_file(
    path: str | Path,
    engine: Engine,
    step_seconds: float = TRACK_STEP_SECONDS,
    fast: bool = True,
    play: bool = False,
    smoothing: float | None = None,
    batch: int | None = None,
    on_estimates=None,
    poll_seconds: float = 0.05,
) -> TrackResult:
    """Track one file start to end (no UI): what headless mode, batches and `emotrack bench`
    run. ``on_estimates(list[Estimate])`` sees new estimates as they come. A file that cannot
    be tracked gives a result with ``error`` set; Ctrl+C gives the partial result with
    ``interrupted`` set."""
    try:
        source = FileSource(path, realtime=not fast, play=play)
    except AudioError as exc:
        return TrackResult(name=str(path), error=str(exc), unopened=True)
    tracker = Tracker(source, engine, step_seconds, smoothing, batch)
    interrupted = False
    tracker.start()
    try:
        while not tracker.wait(poll_seconds):
            if on_estimates is not None:
                on_estimates(tracker.poll())
    except KeyboardInterrupt:
        interrupted = True
    finally:
        tracker.stop()
    if on_estimates is not None:
        on_estimates(tracker.poll())
    result = result_of(tracker, str(path))
    result.interrupted = interrupted
    return result
