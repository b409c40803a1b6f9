"""`emotrack audit` of a 4Q folder: what a training run would get out of it, and what is wrong.

:func:`audit_fourq` turns a loaded :class:`~emotrack.offline.fourq.FourQ` into
:class:`FourQFindings`: clips per quadrant (annotated, with readable audio, usable), the
problems the reader met by kind (missing or unreadable clips, bad rows, unknown quadrants,
clips in the wrong Qn folder), the artists (how many, the most clips one has, those spanning
several quadrants: what an artist-disjoint split must keep together), the PQuad range and the
clips' lengths. :func:`render_fourq` writes them as a table. Exit code 0 when clean, 1 when the
audit found problems.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from emotrack.models.scale import quadrant_label
from emotrack.offline.datafiles import Problem
from emotrack.offline.fourq import QUADRANTS, FourQ

SHOWN_PROBLEMS = 20


@dataclass
class QuadrantCounts:
    quadrant: int
    annotated: int = 0
    with_audio: int = 0
    usable: int = 0


@dataclass
class FourQFindings:
    """Everything the audit found; ``issues`` lists what makes it fail (exit 1)."""

    root: str
    files: dict
    quadrants: list[QuadrantCounts]
    artists: int
    most_clips_per_artist: int
    artists_in_several_quadrants: list[str]
    clips_without_artist: int
    confidence: dict  # PQuad: count, min, mean, max
    seconds: dict  # clip lengths: min, median, max
    problems: list[Problem] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def to_dict(self) -> dict:
        data = asdict(self)
        data["problems"] = [p.to_dict() for p in self.problems]
        return {"dataset": "4q", "ok": self.ok, **data}


def _summary(values: list[float], keys: tuple[str, ...]) -> dict:
    if not values:
        return {k: None for k in ("count", *keys)}
    array = np.asarray(values, dtype=np.float64)
    stats = {
        "min": array.min(),
        "mean": array.mean(),
        "median": np.median(array),
        "max": array.max(),
    }
    return {"count": len(values), **{k: round(float(stats[k]), 3) for k in keys}}


def audit_fourq(fourq: FourQ) -> FourQFindings:
    """The audit of a loaded 4Q folder."""
    clips = list(fourq.clips.values())
    counts = {q: QuadrantCounts(q) for q in QUADRANTS}
    for clip in clips:
        row = counts[clip.quadrant]
        row.annotated += 1
        row.with_audio += clip.duration is not None
        row.usable += clip.usable
    by_artist: dict[str, set[int]] = {}
    per_artist: Counter = Counter()
    for clip in clips:
        if clip.artist:
            by_artist.setdefault(clip.artist, set()).add(clip.quadrant)
            per_artist[clip.artist] += 1
    files = fourq.files
    findings = FourQFindings(
        root=str(fourq.root),
        files={
            "annotations": None if files is None else _text(files.annotations),
            "metadata": None if files is None else _text(files.metadata),
            "audio": 0 if files is None else len(files.audio),
        },
        quadrants=[counts[q] for q in QUADRANTS],
        artists=len(by_artist),
        most_clips_per_artist=max(per_artist.values(), default=0),
        artists_in_several_quadrants=sorted(a for a, qs in by_artist.items() if len(qs) > 1),
        clips_without_artist=sum(1 for c in clips if not c.artist),
        confidence=_summary(
            [c.confidence for c in clips if c.confidence is not None], ("min", "mean", "max")
        ),
        seconds=_summary(
            [c.duration for c in clips if c.duration is not None], ("min", "median", "max")
        ),
        problems=list(fourq.problems),
    )
    kinds = Counter(p.kind for p in fourq.problems)
    findings.issues = [
        f"{n} problem{'s' * (n > 1)} of kind {kind}" for kind, n in sorted(kinds.items())
    ]
    unusable = sum(r.annotated - r.usable for r in findings.quadrants)
    if unusable:
        findings.issues.append(f"{unusable} annotated clips cannot be used for training")
    return findings


def _text(path) -> str | None:
    return None if path is None else str(path)


def render_fourq(findings: FourQFindings) -> str:
    """Findings as tables for people."""
    lines = [f"4Q audit of {findings.root}", ""]
    lines.append(
        f"Files: annotations {findings.files['annotations'] or 'NOT FOUND'}; metadata "
        f"{findings.files['metadata'] or 'NOT FOUND'}; {findings.files['audio']} clips"
    )
    lines += ["", f"{'quadrant':<20} {'annotated':>9} {'audio':>6} {'usable':>6}"]
    for row in findings.quadrants:
        name = quadrant_label(row.quadrant - 1)
        lines.append(f"{name:<20} {row.annotated:>9} {row.with_audio:>6} {row.usable:>6}")
    total = [
        sum(getattr(r, k) for r in findings.quadrants)
        for k in ("annotated", "with_audio", "usable")
    ]
    lines.append(f"{'all':<20} {total[0]:>9} {total[1]:>6} {total[2]:>6}")
    several = findings.artists_in_several_quadrants
    lines += [
        "",
        f"Artists: {findings.artists} (at most {findings.most_clips_per_artist} clips each; "
        f"{len(several)} in several quadrants{': ' + ', '.join(several[:5]) if several else ''}"
        f"{' ...' if len(several) > 5 else ''}); {findings.clips_without_artist} clips without "
        "an artist. Splits keep each artist on one side.",
    ]
    c, s = findings.confidence, findings.seconds
    if c["count"]:
        lines.append(f"PQuad (tag agreement): {c['min']} .. {c['max']}, mean {c['mean']}")
    if s["count"]:
        lines.append(f"Clip lengths: {s['min']} .. {s['max']} s, median {s['median']} s")
    if findings.problems:
        lines += ["", f"Problems ({len(findings.problems)})"]
        lines += [f"  - {p.message}" for p in findings.problems[:SHOWN_PROBLEMS]]
        if len(findings.problems) > SHOWN_PROBLEMS:
            lines.append(
                f"  ... and {len(findings.problems) - SHOWN_PROBLEMS} more (all in --json)"
            )
    lines += ["", "Result: no problems found" if findings.ok else "Result: problems found"]
    lines += [f"  - {issue}" for issue in findings.issues]
    return "\n".join(lines) + "\n"
