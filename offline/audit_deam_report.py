"""A DEAM audit's :class:`~emotrack.offline.audit_deam.Findings` as tables for people: files,
songs per year, label ranges, dynamic curves, static/dynamic agreement, problems, result."""

from __future__ import annotations

import os

from emotrack.models.audio import WINDOW_SECONDS
from emotrack.offline.audit_deam import MIN_AGREEMENT_SONGS, MIN_SAME_R, Findings, YearCounts
from emotrack.offline.deam_records import DIMENSIONS

SHOWN_PROBLEMS = 20


def _r(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _table(header: list[str], rows: list[list]) -> list[str]:
    """Left-aligned first column, right-aligned others, two spaces apart."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        padded = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, len(row))]
        lines.append("  " + "  ".join(padded))
    return lines


def _relative(path: str | None, root: str) -> str:
    if path is None:
        return "(none)"
    return os.path.relpath(path, root) if path.startswith(root) else path


def _files_section(findings: Findings) -> list[str]:
    files, root = findings.files, findings.root
    out = ["Files (under the audited folder)"]
    static = files["static"] or [None]
    out += [f"  static labels   {_relative(p, root)}" for p in static]
    for dimension in DIMENSIONS:
        out.append(f"  {dimension + ' curves':<15} {_relative(files[dimension], root)}")
    folders = [_relative(f, root) for f in files["audio_folders"]]
    where = folders[0] if len(folders) == 1 else f"{len(folders)} folders"
    out.append(
        f"  audio           {files['audio_files']} files in {where}"
        if folders
        else "  audio           (none)"
    )
    return out


def _years_section(findings: Findings) -> list[str]:
    header = [
        "year",
        "songs",
        "audio",
        "unreadable",
        "short",
        "static",
        "dynamic",
        "no audio",
        "no labels",
        "usable static",
        "usable dynamic",
    ]
    names = list(YearCounts.__dataclass_fields__)
    rows = [[getattr(row, name) for name in names] for row in findings.years]
    if len(rows) > 1:
        rows.append(["all", *(sum(row[i] for row in rows) for i in range(1, len(names)))])
    return [
        "Songs per year",
        *_table(header, rows),
        f"  short: under {WINDOW_SECONDS:g} s; no audio: labels but no audio file; no labels: "
        "the reverse;",
        "  usable: readable audio of at least one window, and those labels",
    ]


def _labels_section(findings: Findings) -> list[str]:
    rows = [
        [
            r.name,
            r.count,
            r.missing,
            _num(r.minimum),
            _num(r.maximum),
            _num(r.mean),
            f"{r.scale[0]:g}..{r.scale[1]:g}",
        ]
        for r in findings.ranges
    ]
    out = [
        "Label ranges",
        *_table(["labels", "values", "missing", "min", "max", "mean", "scale"], rows),
    ]
    if findings.curves:
        rows = [
            [
                c.year,
                c.curves,
                c.min_frames,
                f"{c.median_frames:g}",
                c.max_frames,
                c.with_gaps,
                c.past_audio_end,
            ]
            for c in findings.curves
        ]
        header = [
            "year",
            "curves",
            "min frames",
            "median",
            "max frames",
            "with gaps",
            "past audio end",
        ]
        out += ["", "Dynamic curves (2 Hz from 15 s)", *_table(header, rows)]
    return out


def _agreement_section(findings: Findings) -> list[str]:
    rows = [
        [
            a.year,
            a.songs,
            _r(a.valence),
            _r(a.arousal),
            _r(a.static_valence_dynamic_arousal),
            _r(a.static_arousal_dynamic_valence),
            "DISAGREE" if a.disagrees else ("ok" if a.judged else "not judged"),
        ]
        for a in findings.agreement
    ]
    out = [
        "Static vs dynamic agreement (Pearson r, static mean vs mean of the curve, per song)",
        *_table(["year", "songs", "V~V", "A~A", "sV~dA", "sA~dV", "verdict"], rows),
    ]
    out += [f"  {a.year}: {reason}" for a in findings.agreement for reason in a.reasons]
    out.append(
        f"  rule: a year disagrees when V~V or A~A < {MIN_SAME_R}, or when sV~dA > V~V or "
        f"sA~dV > A~A; years with under {MIN_AGREEMENT_SONGS} songs are not judged"
    )
    return out


def _problems_section(findings: Findings) -> list[str]:
    if not findings.problems:
        return []
    kinds: dict[str, int] = {}
    for problem in findings.problems:
        kinds[problem.kind] = kinds.get(problem.kind, 0) + 1
    out = [f"Problems ({len(findings.problems)})"]
    out.append("  " + ", ".join(f"{kind}: {n}" for kind, n in sorted(kinds.items())))
    out += [f"  - {p.message}" for p in findings.problems[:SHOWN_PROBLEMS]]
    if len(findings.problems) > SHOWN_PROBLEMS:
        out.append(f"  ... and {len(findings.problems) - SHOWN_PROBLEMS} more (all in --json)")
    return out


def render(findings: Findings) -> str:
    """Findings as tables for people."""
    sections = [
        [f"DEAM audit of {findings.root}"],
        _files_section(findings),
        _years_section(findings),
        _labels_section(findings),
        _agreement_section(findings),
        _problems_section(findings),
    ]
    if findings.ok:
        sections.append(["Result: no problems found"])
    else:
        sections.append(["Result: problems found", *(f"  - {i}" for i in findings.issues)])
    return "\n\n".join("\n".join(lines) for lines in sections if lines) + "\n"
