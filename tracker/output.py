"""What the tracker writes: headless lines, the mood word, song summaries, CSV and JSON.

Everything is on DEAM's 1..9 scale, 5 the middle. Outputs go through
:class:`emotrack.models.target.OutputTarget`: ``-`` is stdout, special files are written in
place, symlinks through, regular files atomically (a temporary file renamed over the target).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from emotrack.models.atomic import json_ready
from emotrack.models.scale import QUADRANTS, mood, quadrant_index
from emotrack.models.target import OutputTarget
from emotrack.tracker.headless import TrackResult
from emotrack.tracker.quality import FLAGS
from emotrack.tracker.session import Estimate, TrackerStats

FORMATS = ("text", "csv", "jsonl")
TIMELINE_FIELDS = (
    "file", "time", "valence", "arousal", "raw_valence", "raw_arousal", "mood", "flags",
)  # fmt: skip
JSON_FORMAT = "emotrack-tracking/1"


# ---------------------------------------------------------------------------- summary


@dataclass
class Summary:
    """Song-level summary of a timeline (shown values) over its windows of music; windows
    flagged silent, near-silent or non-finite are counted in ``flags`` and left out of the
    values (all None, mood "no music", when no window is music)."""

    windows: int
    seconds: float  # end of the last window
    valence_mean: float
    valence_std: float
    valence_min: float
    valence_max: float
    arousal_mean: float
    arousal_std: float
    arousal_min: float
    arousal_max: float
    quadrant_share: dict[str, float]  # fraction of music windows per quadrant
    mood: str  # the mood word of the mean
    music_windows: int = 0  # windows not flagged silent, near-silent or non-finite
    flags: dict[str, int] = field(default_factory=dict)  # windows per flag (FLAGS), all listed

    def flat(self) -> dict:
        """One flat row (CSV): quadrant shares as share_<name>, flags as flag_<name> columns."""
        row = {k: v for k, v in asdict(self).items() if k not in ("quadrant_share", "flags")}
        for name, share in self.quadrant_share.items():
            row[f"share_{name.replace('/', '_')}"] = share
        for name, count in self.flags.items():
            row[f"flag_{name.replace('-', '_')}"] = count
        return row


NO_MUSIC = "no music"  # the mood of a summary without a window of music


def summarise(timeline: Sequence[Estimate]) -> Summary | None:
    """Mean/std/min/max per dimension, quadrant shares and mood over the windows of music,
    and the count of windows per flag; None for no estimates."""
    if not timeline:
        return None
    flags = {name: sum(name in e.flags for e in timeline) for name in FLAGS}
    music = [e for e in timeline if e.music]
    common = {
        "windows": len(timeline),
        "seconds": timeline[-1].time,
        "music_windows": len(music),
        "flags": flags,
    }
    if not music:
        empty = dict.fromkeys(
            f"{d}_{s}" for d in ("valence", "arousal") for s in ("mean", "std", "min", "max")
        )
        share = dict.fromkeys(QUADRANTS, 0.0)
        return Summary(**common, **empty, quadrant_share=share, mood=NO_MUSIC)
    va = np.array([(e.valence, e.arousal) for e in music], dtype=np.float64)
    counts = np.bincount(quadrant_index(va[:, 0], va[:, 1]), minlength=len(QUADRANTS))
    shares = {name: count / len(va) for name, count in zip(QUADRANTS, counts.tolist(), strict=True)}
    mean = va.mean(axis=0)
    return Summary(
        **common,
        valence_mean=float(mean[0]),
        valence_std=float(va[:, 0].std()),
        valence_min=float(va[:, 0].min()),
        valence_max=float(va[:, 0].max()),
        arousal_mean=float(mean[1]),
        arousal_std=float(va[:, 1].std()),
        arousal_min=float(va[:, 1].min()),
        arousal_max=float(va[:, 1].max()),
        quadrant_share=shares,
        mood=mood(*mean),
    )


def window_mood(estimate: Estimate) -> str:
    """The mood word of a window of music; a window of no music is named by its flag."""
    if not estimate.music:
        return estimate.flags[0]
    return mood(estimate.valence, estimate.arousal)


# ---------------------------------------------------------------------------- headless lines


def format_line(estimate: Estimate, fmt: str = "text", name: str = "") -> str:
    """One window as one line: ``text`` (aligned, readable, whitespace-split fields),
    ``csv`` (TIMELINE_FIELDS) or ``jsonl``."""
    row = _row(estimate, name)
    if fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(row.values())
        return buffer.getvalue()
    if fmt == "jsonl":
        return json.dumps(row)
    return (
        f"{estimate.time:9.2f} s  valence {estimate.valence:4.2f}  "
        f"arousal {estimate.arousal:4.2f}  {row['mood']}"
        + (f"  [{row['flags']}]" if estimate.flags and estimate.music else "")
    )


def header_line(fmt: str) -> str | None:
    """The line before the first window (CSV header), or None."""
    return ",".join(TIMELINE_FIELDS) if fmt == "csv" else None


def _row(estimate: Estimate, name: str) -> dict:
    return {
        "file": name,
        "time": round(estimate.time, 3),
        "valence": round(estimate.valence, 4),
        "arousal": round(estimate.arousal, 4),
        "raw_valence": round(estimate.raw_valence, 4),
        "raw_arousal": round(estimate.raw_arousal, 4),
        "mood": window_mood(estimate),
        "flags": " ".join(estimate.flags),
    }


# ---------------------------------------------------------------------------- files


def _csv_text(fields: Sequence[str], rows: Sequence[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_timeline_csv(estimates: Sequence[Estimate], path: str | Path, name: str = "") -> None:
    """One file's timeline: one row per window (TIMELINE_FIELDS)."""
    OutputTarget(path).write(_csv_text(TIMELINE_FIELDS, [_row(e, name) for e in estimates]))


def summary_path(path: str | Path) -> Path:
    """Where ``--csv FILE`` puts the per-file summary: ``FILE`` with ``.summary.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.summary.csv")


SUMMARY_FIELDS = (
    "file",
    "status",
    *(f for f in Summary.__dataclass_fields__ if f not in ("quadrant_share", "flags")),
    *(f"share_{name.replace('/', '_')}" for name in QUADRANTS),
    *(f"flag_{name.replace('-', '_')}" for name in FLAGS),
    "warnings",
    "error",
)


def summary_csv_text(results: Sequence[TrackResult]) -> str:
    """One summary row per file (SUMMARY_FIELDS)."""
    summaries = []
    for result in results:
        summary = summarise(result.timeline)
        row = {
            "file": result.name,
            "status": _status(result),
            "warnings": "; ".join(result.warnings),
            "error": result.error or "",
        }
        if summary is not None:
            row.update({k: _round(v) for k, v in summary.flat().items()})
        summaries.append(row)
    return _csv_text(SUMMARY_FIELDS, summaries)


def json_text(results: Sequence[TrackResult], info: dict | None = None) -> str:
    """One document, one entry per file with summary, stats and timeline (strict JSON)."""
    files = []
    for result in results:
        summary = summarise(result.timeline)
        files.append(
            {
                "file": result.name,
                "status": _status(result),
                "error": result.error,
                "warnings": result.warnings,
                "summary": None if summary is None else _rounded(asdict(summary)),
                "stats": None if result.stats is None else _rounded(result.stats.to_dict()),
                "timeline": [
                    {k: v for k, v in _row(e, "").items() if k != "file"} for e in result.timeline
                ],
            }
        )
    document = {"format": JSON_FORMAT, "scale": "1..9", **(info or {}), "files": files}
    return json.dumps(json_ready(document), indent=1, allow_nan=False) + "\n"


def write_csv(path: str | Path, results: Sequence[TrackResult]) -> tuple[Path, Path]:
    """Every file's timeline in ``path`` (a ``file`` column tells them apart) and one summary
    row per file in its .summary.csv. Returns both paths."""
    rows = [_row(e, r.name) for r in results for e in r.timeline]
    OutputTarget(path, "--csv").write(_csv_text(TIMELINE_FIELDS, rows))
    OutputTarget(summary_path(path), "--csv").write(summary_csv_text(results))
    return Path(path), summary_path(path)


def write_json(path: str | Path, results: Sequence[TrackResult], info: dict | None = None) -> None:
    """``--json FILE``: :func:`json_text` written to ``path`` (``-``: standard output)."""
    OutputTarget(path, "--json").write(json_text(results, info))


class TimelineStreams:
    """``--csv`` and ``--jsonl`` timelines written as windows come (flushed per batch), so an
    interrupted run keeps every window tracked; :meth:`close` finishes them."""

    def __init__(self, csv_target: OutputTarget | None, jsonl_target: OutputTarget | None):
        self._csv = csv_target.open() if csv_target is not None else None
        self._jsonl = jsonl_target.open() if jsonl_target is not None else None
        if self._csv is not None:
            self._csv.write(",".join(TIMELINE_FIELDS) + "\n")
            self._csv.flush()

    def add(self, name: str, estimates: Sequence[Estimate]) -> None:
        if not estimates:
            return
        if self._csv is not None:
            self._csv.write("".join(format_line(e, "csv", name) + "\n" for e in estimates))
            self._csv.flush()
        if self._jsonl is not None:
            self._jsonl.write("".join(format_line(e, "jsonl", name) + "\n" for e in estimates))
            self._jsonl.flush()

    def close(self) -> None:
        for stream in (self._csv, self._jsonl):
            if stream is not None:
                stream.close()


def _status(result: TrackResult) -> str:
    if result.interrupted:
        return "interrupted"
    return "failed" if result.error else "ok"


def _round(value):
    return round(value, 4) if isinstance(value, float) else value


def _rounded(data):
    if isinstance(data, dict):
        return {k: _rounded(v) for k, v in data.items()}
    return _round(data)


# ---------------------------------------------------------------------------- stderr reports


def describe(result: TrackResult) -> str:
    """One paragraph about one tracked file or session, for stderr."""
    summary = summarise(result.timeline)
    lines = [f"{result.name}: {_status(result)}"]
    if summary is not None and summary.music_windows:
        top = max(summary.quadrant_share, key=summary.quadrant_share.get)
        lines.append(
            f"  {summary.music_windows} windows of music over {summary.seconds:.1f} s; valence "
            f"{summary.valence_mean:.2f} ± {summary.valence_std:.2f}, arousal "
            f"{summary.arousal_mean:.2f} ± {summary.arousal_std:.2f}; mostly {top} "
            f"({summary.quadrant_share[top]:.0%}); mood: {summary.mood}"
        )
    if result.stats is not None and result.stats.windows:
        lines.append("  " + describe_stats(result.stats))
    if summary is not None and any(summary.flags.values()):
        counts = ", ".join(f"{n} {k}" for k, n in summary.flags.items() if n)
        lines.append(f"  flagged windows (of {summary.windows}): {counts}")
    lines += [f"  warning: {warning}" for warning in result.warnings]
    if result.overflows:
        lines.append(f"  {result.overflows} input overflows (audio lost before it was tracked)")
    if result.error:
        lines.append(f"  error: {result.error}")
    return "\n".join(lines)


def describe_stats(stats: TrackerStats) -> str:
    """Speed in one line: windows, drops, latency, real-time factor, where it ran."""
    speed = f"{stats.realtime_factor:.1f}x real time" if stats.realtime_factor else "-"
    p50 = "-" if stats.latency_p50_ms is None else f"{stats.latency_p50_ms:.0f}"
    p95 = "-" if stats.latency_p95_ms is None else f"{stats.latency_p95_ms:.0f}"
    return (
        f"{stats.windows} windows, {stats.dropped} dropped; latency p50 {p50} ms, p95 {p95} ms; "
        f"{speed}; {stats.backend} on {stats.device}"
    )


def summary_table(results: Sequence[TrackResult]) -> str:
    """Aligned table, one row per file (a batch's stderr report)."""
    header = ("file", "status", "windows", "valence", "arousal", "mood", "top quadrant")
    rows = [header]
    for result in results:
        summary = summarise(result.timeline)
        if summary is None or not summary.music_windows:
            windows = "0" if summary is None else str(summary.windows)
            mood_word = "-" if summary is None else summary.mood
            rows.append((result.name, _status(result), windows, "-", "-", mood_word, "-"))
            continue
        top = max(summary.quadrant_share, key=summary.quadrant_share.get)
        rows.append(
            (
                result.name,
                _status(result),
                str(summary.windows),
                f"{summary.valence_mean:.2f}±{summary.valence_std:.2f}",
                f"{summary.arousal_mean:.2f}±{summary.arousal_std:.2f}",
                summary.mood,
                f"{top} {summary.quadrant_share[top]:.0%}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    failed = [r for r in results if r.error]
    lines += [f"{r.name}: {r.error}" for r in failed]
    lines += [f"{r.name}: warning: {w}" for r in results for w in r.warnings]
    return "\n".join(lines)
