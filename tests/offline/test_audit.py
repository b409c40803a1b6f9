"""`emotrack audit` on small DEAM and 4Q folders with planted faults."""

from __future__ import annotations

import json

import pytest

from emotrack.main import main
from emotrack.offline.audit_deam import audit
from emotrack.offline.audit_deam_report import render
from emotrack.offline.datafiles import BAD_ROW, SHORT_AUDIO, UNREADABLE_AUDIO
from emotrack.offline.deam import load_deam

STATIC_FILE = (
    "DEAM_Annotations/annotations/annotations averaged per song/song_level/"
    "static_annotations_averaged_songs_1_2000.csv"
)


@pytest.fixture
def planted(tmp_path, write_deam, agreeing_songs):
    """2013 agrees; 2014 has static valence and arousal swapped; 2015 has the dynamic valence
    inverted; each year 12 songs."""
    songs = agreeing_songs(range(101, 113), seed=1, audio=45.0)
    songs |= agreeing_songs(range(1101, 1113), seed=2, audio=45.0, swap=True)
    songs |= agreeing_songs(range(2001, 2013), seed=3, audio=45.0, invert=True)
    return write_deam(tmp_path / "deam", songs)


def test_audit_flags_the_years_where_static_and_dynamic_disagree(planted):
    findings = audit(load_deam(planted))
    agreement = {row.year: row for row in findings.agreement}
    good, swapped, inverted = agreement[2013], agreement[2014], agreement[2015]
    assert good.judged and not good.disagrees and good.reasons == []
    assert good.valence > 0.9 and good.arousal > 0.9
    assert swapped.disagrees and swapped.static_valence_dynamic_arousal > 0.9
    assert any("static valence follows dynamic arousal" in r for r in swapped.reasons)
    assert any("static arousal follows dynamic valence" in r for r in swapped.reasons)
    assert inverted.disagrees and inverted.valence < -0.9 and inverted.arousal > 0.9
    assert [r for r in inverted.reasons if "valence" in r] and not [
        r for r in inverted.reasons if r.startswith("arousal")
    ]
    assert not findings.ok
    assert findings.issues == [
        "2014: static and dynamic labels disagree",
        "2015: static and dynamic labels disagree",
    ]
    table = render(findings)
    assert table.count("DISAGREE") == 2 and "Result: problems found" in table


def test_audit_cli_exit_1_with_table_on_stdout_and_the_same_findings_in_json(
    planted, tmp_path, capsys
):
    out = tmp_path / "audit.json"
    assert main(["audit", str(planted), "--json", str(out)]) == 1
    table = capsys.readouterr().out
    assert "Songs per year" in table and "DISAGREE" in table
    data = json.loads(out.read_text())
    assert data["ok"] is False
    assert [(r["year"], r["disagrees"]) for r in data["agreement"]] == [
        (2013, False),
        (2014, True),
        (2015, True),
    ]
    assert [(r["year"], r["songs"], r["usable_static"]) for r in data["years"]] == [
        (2013, 12, 12),
        (2014, 12, 12),
        (2015, 12, 12),
    ]
    assert list(tmp_path.glob(".audit.json.*")) == []  # no temp file left


def test_a_clean_folder_passes(tmp_path, write_deam, agreeing_songs, capsys):
    songs = agreeing_songs(range(2, 14), audio=45.0)
    songs |= agreeing_songs(range(2001, 2004), seed=5, audio=45.0, frames=61)
    root = write_deam(tmp_path / "deam", songs)
    assert main(["audit", str(root), "--json", "-"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)  # stdout is pure JSON with --json -
    assert data["ok"] is True and data["issues"] == [] and data["problems"] == []
    assert "Result: no problems found" in captured.err
    assert "2015: only 3 songs with both kinds of labels; not judged" in captured.err
    ranges = {r["name"]: r for r in data["ranges"]}
    assert (
        1
        <= ranges["static valence mean"]["minimum"]
        <= ranges["static valence mean"]["maximum"]
        <= 9
    )
    assert ranges["dynamic arousal"]["count"] == 12 * 60 + 3 * 61


def test_audit_finds_missing_unreadable_short_and_malformed_input(
    tmp_path, write_deam, agreeing_songs, capsys
):
    songs = agreeing_songs(range(2, 14), audio=45.0)
    del songs[2]["audio"]  # labels, no audio
    songs[3] = {"audio": 45.0}  # audio, no labels
    songs[4]["audio"] = "corrupt"
    songs[5]["audio"] = 2.0  # too short
    songs[6]["audio"] = 6.0  # its curves run to 44.5 s
    del songs[7]["arousal"]  # incomplete labels
    root = write_deam(tmp_path / "deam", songs)
    with open(root / STATIC_FILE, "ab") as stream:
        stream.write(b"900,5.0,x,5.0,1.0,5\r\n")  # line 13: six values
    findings = audit(load_deam(root))
    assert findings.labels_without_audio == [2]
    assert findings.audio_without_labels == [3]
    assert findings.incomplete_labels == [7]
    assert findings.curves_past_audio_end == [5, 6]
    year = findings.years[0]
    assert (year.songs, year.audio, year.unreadable, year.short) == (12, 11, 1, 1)
    assert (year.labels_no_audio, year.audio_no_labels, year.usable_static) == (1, 1, 8)
    kinds = {(p.kind, p.path.name, p.row) for p in findings.problems}
    assert kinds == {
        (UNREADABLE_AUDIO, "4.mp3", None),
        (SHORT_AUDIO, "5.mp3", None),
        (BAD_ROW, "static_annotations_averaged_songs_1_2000.csv", 13),
    }
    assert main(["audit", str(root)]) == 1
    table = capsys.readouterr().out
    assert (
        "Problems (3)" in table and "static_annotations_averaged_songs_1_2000.csv, line 13" in table
    )
    assert "songs with labels but no audio: 1 (e.g. 2)" in table


@pytest.mark.parametrize("make", [lambda p: p / "absent", lambda p: p])
def test_audit_of_a_folder_without_deam_is_bad_input(tmp_path, capsys, make):
    assert main(["audit", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("emotrack audit: error:") and "--data-dir" in err


def test_audit_needs_a_folder_or_download(capsys):
    assert main(["audit"]) == 2
    assert "--download" in capsys.readouterr().err


def test_audit_refuses_a_folder_as_json_output_before_any_work(planted, capsys):
    assert main(["audit", str(planted), "--json", str(planted)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "is a folder" in captured.err


def test_audit_finds_what_the_synthetic_generator_planted(tmp_path):
    from emotrack.offline.synthetic import Faults, generate_deam, load_manifest

    faults = Faults(
        missing_audio=1, unlabelled_audio=1, malformed_rows=1, corrupt_audio=1, short_audio=1,
        swapped_year=2014, dynamic_gaps=1,
    )  # fmt: skip
    root = generate_deam(
        tmp_path / "synthetic", n_songs=22, seed=0, clip_seconds=16.0, faults=faults,
        progress=False, workers=1,
    )  # fmt: skip
    planted = load_manifest(root)["planted"]
    deam = load_deam(root)
    findings = audit(deam)
    assert findings.labels_without_audio == planted["missing_audio"]
    assert findings.audio_without_labels == planted["unlabelled_audio"]
    by_kind = {}
    for problem in findings.problems:
        by_kind.setdefault(problem.kind, []).append(problem)
    assert [p.path.stem for p in by_kind[UNREADABLE_AUDIO]] == [
        str(c["song_id"]) for c in planted["corrupt_audio"]
    ]
    assert [int(p.path.stem) for p in by_kind[SHORT_AUDIO]] == planted["short_audio"]
    assert [p.row for p in by_kind[BAD_ROW]] == [r["line"] for r in planted["malformed_rows"]]
    for gap in planted["dynamic_gaps"]:  # empty (valence) and NaN (arousal) cells dropped
        song = deam.songs[gap["song_id"]]
        for curve in (song.valence_curve, song.arousal_curve):
            assert curve is not None and not set(gap["times"]) & set(curve.times.tolist())
    verdicts = {row.year: row.disagrees for row in findings.agreement if row.judged}
    assert verdicts == {2014: True}


# ---------------------------------------------------------------------------- 4Q


def test_audit_of_a_4q_folder_names_each_planted_fault(fourq_faulty, tmp_path, capsys):
    out = tmp_path / "audit.json"
    assert main(["audit", str(fourq_faulty), "--json", str(out)]) == 1
    table = capsys.readouterr().out
    assert (
        "4Q audit of" in table and "Q2 tense/angry" in table and "Result: problems found" in table
    )
    planted = json.loads((fourq_faulty / "synthetic.json").read_text())["planted"]
    for songs in planted.values():
        assert songs[0] in table  # every planted fault is named
    data = json.loads(out.read_text())
    assert data["dataset"] == "4q" and data["ok"] is False
    rows = {row["quadrant"]: row for row in data["quadrants"]}
    assert sum(r["annotated"] for r in rows.values()) == 16 - 2  # the bad and the Q5 row
    assert sum(r["with_audio"] for r in rows.values()) == 16 - 4
    assert sum(r["usable"] for r in rows.values()) == 16 - 4
    kinds = {p["kind"] for p in data["problems"]}
    assert {"missing-file", "bad-row", "unknown-quadrant", "unreadable-audio"} <= kinds
    assert "2 annotated clips cannot be used for training" in data["issues"]
    assert data["files"]["annotations"].endswith("panda_dataset_taffc_annotations.csv")
    assert data["artists"] >= 2 and data["most_clips_per_artist"] >= 2
    assert 0.5 <= data["confidence"]["min"] <= data["confidence"]["max"] <= 1.0


def test_a_clean_4q_folder_passes_with_json_on_stdout(tmp_path, capsys):
    from emotrack.offline.synthetic_4q import generate_fourq

    root = generate_fourq(tmp_path / "4q", n_clips=8, seed=3, clip_seconds=8.0, progress=False)
    assert main(["audit", str(root), "--json", "-"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["ok"] is True and data["issues"] == [] and data["problems"] == []
    assert [r["usable"] for r in data["quadrants"]] == [2, 2, 2, 2]
    assert data["seconds"]["min"] >= 7.5 and "Result: no problems found" in captured.err
