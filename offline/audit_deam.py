"""The audit of a DEAM copy: what is there and what is wrong, as :class:`Findings`.

:func:`audit` turns a loaded :class:`~emotrack.offline.deam_records.Deam` into :class:`Findings`
(counts per year, labels without audio and the reverse, unreadable or too-short audio, label
ranges and missing values, static/dynamic agreement per year); ``offline.audit_deam_report``
writes them as tables.

Agreement rule: for each year, each song's static mean is correlated (Pearson r) with the mean
of its dynamic curve. A year is flagged when, for valence or arousal, r < 0.3 (the two kinds of
labels barely agree, or are inverted), or the static labels follow the *other* dimension's
curves more closely than their own (r(static valence, dynamic arousal) > r(static valence,
dynamic valence), likewise for arousal: swapped columns or files). Years with fewer than 10
songs carrying both kinds of labels are reported but not judged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from emotrack.offline.datafiles import SHORT_AUDIO, UNREADABLE_AUDIO, Problem
from emotrack.offline.deam_records import (
    DIMENSIONS,
    DYNAMIC_RANGE,
    STATIC_RANGE,
    STD_RANGE,
    Deam,
    DeamFiles,
    Song,
)

MIN_SAME_R = 0.3  # static vs dynamic of one dimension must correlate at least this much
MIN_AGREEMENT_SONGS = 10  # fewer songs with both kinds of labels: not judged
FRAME_SECONDS = 0.5  # dynamic labels are 2 Hz
PAST_END_TOLERANCE = 1.0  # s: a curve may end this far past the audio's last sample


@dataclass
class YearCounts:
    """How many songs of one year have each part."""

    year: int
    songs: int = 0
    audio: int = 0
    unreadable: int = 0
    short: int = 0
    static: int = 0
    dynamic: int = 0
    labels_no_audio: int = 0
    audio_no_labels: int = 0
    usable_static: int = 0
    usable_dynamic: int = 0


@dataclass
class LabelRange:
    """Observed range of one label column against the scale it should be on."""

    name: str
    count: int
    missing: int
    minimum: float | None
    maximum: float | None
    mean: float | None
    scale: tuple[float, float]


@dataclass
class CurveStats:
    """Dynamic curves of one year: frames per song and gaps."""

    year: int
    curves: int
    min_frames: int
    median_frames: float
    max_frames: int
    with_gaps: int  # missing cells inside the curve, not only at its end
    past_audio_end: int


@dataclass
class Agreement:
    """Pearson r between static means and dynamic curve means, in one year."""

    year: int
    songs: int
    valence: float | None
    arousal: float | None
    static_valence_dynamic_arousal: float | None
    static_arousal_dynamic_valence: float | None
    judged: bool
    disagrees: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class Findings:
    """Everything the audit found; ``issues`` lists what makes it fail (exit 1)."""

    root: str
    files: dict
    years: list[YearCounts]
    labels_without_audio: list[int]
    audio_without_labels: list[int]
    incomplete_labels: list[int]
    curves_past_audio_end: list[int]
    ranges: list[LabelRange]
    curves: list[CurveStats]
    agreement: list[Agreement]
    problems: list[Problem]

    @property
    def issues(self) -> list[str]:
        found = []
        if self.problems:
            found.append(f"{len(self.problems)} problems reading the data")
        for ids, what in (
            (self.labels_without_audio, "with labels but no audio"),
            (self.audio_without_labels, "with audio but no labels"),
            (self.incomplete_labels, "missing static labels or a dynamic curve"),
            (self.curves_past_audio_end, "whose dynamic curve runs past the audio's end"),
        ):
            if ids:
                found.append(f"songs {what}: {len(ids)} (e.g. {_some(ids)})")
        for row in self.agreement:
            if row.disagrees:
                found.append(f"{row.year}: static and dynamic labels disagree")
        return found

    @property
    def ok(self) -> bool:
        return not self.issues

    def to_dict(self) -> dict:
        data = {
            "root": self.root,
            "ok": self.ok,
            "issues": self.issues,
            "files": self.files,
            "years": [asdict(row) for row in self.years],
            "labels_without_audio": self.labels_without_audio,
            "audio_without_labels": self.audio_without_labels,
            "incomplete_labels": self.incomplete_labels,
            "curves_past_audio_end": self.curves_past_audio_end,
            "ranges": [asdict(row) for row in self.ranges],
            "curves": [asdict(row) for row in self.curves],
            "agreement": [asdict(row) for row in self.agreement],
            "agreement_rule": {
                "min_same_dimension_r": MIN_SAME_R,
                "min_songs": MIN_AGREEMENT_SONGS,
                "cross_dimension_r_must_not_exceed_same": True,
            },
            "problems": [problem.to_dict() for problem in self.problems],
        }
        return _finite(data)


def audit(deam: Deam) -> Findings:
    """All findings about a loaded DEAM copy (no printing)."""
    songs = [song for _, song in sorted(deam.songs.items())]
    files = deam.files or DeamFiles(deam.root)
    years = sorted({song.year for song in songs})
    return Findings(
        root=str(deam.root),
        files={
            "static": [str(p) for p in files.static],
            "valence": None if files.valence is None else str(files.valence),
            "arousal": None if files.arousal is None else str(files.arousal),
            "audio_files": len(files.audio),
            "audio_folders": sorted({str(p.parent) for p in files.audio.values()}),
        },
        years=_year_counts(songs, deam.problems),
        labels_without_audio=[s.song_id for s in songs if _labelled(s) and s.audio_path is None],
        audio_without_labels=[
            s.song_id for s in songs if s.audio_path is not None and not _labelled(s)
        ],
        incomplete_labels=[
            s.song_id for s in songs if _labelled(s) and not (s.has_static and s.has_dynamic)
        ],
        curves_past_audio_end=[s.song_id for s in songs if _past_end(s)],
        ranges=_ranges(songs),
        curves=_curve_stats(songs),
        agreement=[_agreement(year, [s for s in songs if s.year == year]) for year in years],
        problems=list(deam.problems),
    )


def _year_counts(songs: list[Song], problems: list[Problem]) -> list[YearCounts]:
    bad_audio = {p.path: p.kind for p in problems if p.kind in (UNREADABLE_AUDIO, SHORT_AUDIO)}
    years: dict[int, YearCounts] = {}
    for song in songs:
        row = years.setdefault(song.year, YearCounts(song.year))
        has_audio = song.audio_path is not None
        row.songs += 1
        row.audio += has_audio
        row.unreadable += bad_audio.get(song.audio_path) == UNREADABLE_AUDIO
        row.short += bad_audio.get(song.audio_path) == SHORT_AUDIO
        row.static += song.has_static
        row.dynamic += song.has_dynamic
        row.labels_no_audio += _labelled(song) and not has_audio
        row.audio_no_labels += has_audio and not _labelled(song)
        row.usable_static += song.has_audio and song.has_static
        row.usable_dynamic += song.has_audio and song.has_dynamic
    return [years[year] for year in sorted(years)]


def _labelled(song: Song) -> bool:
    """Any label at all: static means or at least one curve."""
    return song.has_static or song.valence_curve is not None or song.arousal_curve is not None


def _past_end(song: Song) -> bool:
    if song.duration is None:
        return False
    ends = [c.times[-1] for c in (song.valence_curve, song.arousal_curve) if c is not None]
    return any(end > song.duration + PAST_END_TOLERANCE for end in ends)


def _summary(name: str, values, missing: int, scale: tuple[float, float]) -> LabelRange:
    array = np.asarray(values, dtype=np.float64)
    if not len(array):
        return LabelRange(name, 0, missing, None, None, None, scale)
    return LabelRange(
        name,
        len(array),
        missing,
        float(array.min()),
        float(array.max()),
        float(array.mean()),
        scale,
    )


def _ranges(songs: list[Song]) -> list[LabelRange]:
    """Static means and stds, and dynamic values; ``missing``: labelled songs without them."""
    labelled = sum(_labelled(s) for s in songs)
    static = [s for s in songs if s.has_static]
    rows = []
    for dimension in DIMENSIONS:
        means = [getattr(s, f"{dimension}_mean") for s in static]
        stds = [v for s in static if (v := getattr(s, f"{dimension}_std")) is not None]
        rows.append(
            _summary(f"static {dimension} mean", means, labelled - len(static), STATIC_RANGE)
        )
        rows.append(_summary(f"static {dimension} std", stds, labelled - len(stds), STD_RANGE))
    for dimension in DIMENSIONS:
        curves = [c for s in songs if (c := getattr(s, f"{dimension}_curve")) is not None]
        values = np.concatenate([c.values for c in curves]) if curves else []
        rows.append(_summary(f"dynamic {dimension}", values, labelled - len(curves), DYNAMIC_RANGE))
    return rows


def _curve_stats(songs: list[Song]) -> list[CurveStats]:
    rows = []
    for year in sorted({s.year for s in songs}):
        of_year = [s for s in songs if s.year == year]
        curves = [c for s in of_year for c in (s.valence_curve, s.arousal_curve) if c is not None]
        if not curves:
            continue
        frames = [len(c.times) for c in curves]
        rows.append(
            CurveStats(
                year=year,
                curves=len(curves),
                min_frames=min(frames),
                median_frames=float(np.median(frames)),
                max_frames=max(frames),
                with_gaps=sum(bool(np.any(np.diff(c.times) > 1.5 * FRAME_SECONDS)) for c in curves),
                past_audio_end=sum(_past_end(s) for s in of_year),
            )
        )
    return rows


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def _agreement(year: int, songs: list[Song]) -> Agreement:
    both = [s for s in songs if s.has_static and s.has_dynamic]
    static = {d: np.array([getattr(s, f"{d}_mean") for s in both]) for d in DIMENSIONS}
    dynamic = {
        d: np.array([getattr(s, f"{d}_curve").values.mean() for s in both]) for d in DIMENSIONS
    }
    same = {d: _pearson(static[d], dynamic[d]) for d in DIMENSIONS}
    cross = {
        "valence": _pearson(static["valence"], dynamic["arousal"]),
        "arousal": _pearson(static["arousal"], dynamic["valence"]),
    }
    row = Agreement(
        year=year,
        songs=len(both),
        valence=same["valence"],
        arousal=same["arousal"],
        static_valence_dynamic_arousal=cross["valence"],
        static_arousal_dynamic_valence=cross["arousal"],
        judged=len(both) >= MIN_AGREEMENT_SONGS,
        disagrees=False,
    )
    if not row.judged:
        row.reasons.append(f"only {len(both)} songs with both kinds of labels; not judged")
        return row
    other = {"valence": "arousal", "arousal": "valence"}
    for d in DIMENSIONS:
        if same[d] is None:
            row.reasons.append(f"{d}: r undefined (constant labels); not judged")
            continue
        if same[d] < MIN_SAME_R:
            row.disagrees = True
            row.reasons.append(f"{d}: static vs dynamic r = {same[d]:.2f} < {MIN_SAME_R}")
        if cross[d] is not None and cross[d] > same[d]:
            row.disagrees = True
            row.reasons.append(
                f"static {d} follows dynamic {other[d]} (r = {cross[d]:.2f}) more than "
                f"dynamic {d} (r = {same[d]:.2f})"
            )
    return row


def _some(ids: list[int], n: int = 5) -> str:
    return ", ".join(map(str, ids[:n])) + (", ..." if len(ids) > n else "")


def _finite(value):
    """JSON has no NaN: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
