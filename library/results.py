"""A song's model outputs as a database row: the timeline and the tracker's own summary.

The summary is whatever ``emotrack.tracker.output.summarise`` returns (stored whole as JSON,
the key numbers also as columns), so the scan reports exactly what `emotrack file` reports.
Shared by the local scan and the Ray variant.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from emotrack.library.decode import Decoded
from emotrack.library.store import SongRow
from emotrack.models.atomic import json_ready
from emotrack.models.audio import WINDOW_SECONDS
from emotrack.tracker.output import summarise
from emotrack.tracker.session import Estimate


def timeline(values: np.ndarray, step_seconds: float, flags=None) -> list[Estimate]:
    """(windows, 2) valence, arousal (and each window's flags) -> the tracker's estimates
    (window ends from 5 s on)."""
    flags = flags or [()] * len(values)
    return [
        Estimate(
            time=WINDOW_SECONDS + i * step_seconds,
            valence=float(v),
            arousal=float(a),
            raw_valence=float(v),
            raw_arousal=float(a),
            latency_ms=0.0,
            flags=tuple(flags[i]),
        )
        for i, (v, a) in enumerate(values.tolist())
    ]


def ok_row(
    decoded: Decoded, values: np.ndarray, step_seconds: float, model_id: str, flags=None
) -> SongRow:
    summary = summarise(timeline(values, step_seconds, flags))
    return SongRow(
        path=decoded.path,
        size=decoded.size,
        mtime_ns=decoded.mtime_ns,
        content_hash=decoded.content_hash,
        model_id=model_id,
        status="ok",
        duration=decoded.duration,
        summary=None if summary is None else json_ready(asdict(summary)),
        hop_seconds=step_seconds,  # the database's column
        timeline=np.asarray(values, dtype=np.float32),
    )


def failed_row(decoded: Decoded, model_id: str) -> SongRow:
    return SongRow(
        path=decoded.path,
        size=decoded.size,
        mtime_ns=decoded.mtime_ns,
        content_hash=decoded.content_hash,
        model_id=model_id,
        status="failed",
        error=decoded.error,
    )
