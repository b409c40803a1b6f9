"""The synthetic 4Q: the authors' layout and CSV quirks, labels from its cues, planted faults."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from emotrack.models.audio import AudioError, load_audio
from emotrack.models.errors import UserError
from emotrack.offline.fourq import QUADRANT_SIGNS
from emotrack.offline.synth_writer import MANIFEST
from emotrack.offline.synthetic_4q import (
    ANNOTATIONS,
    METADATA,
    ROOT,
    FourQFaults,
    generate_fourq,
)

SECONDS = 8.0


def _tables(root: Path) -> dict[str, bytes]:
    return {name: (root / ROOT / name).read_bytes() for name in (ANNOTATIONS, METADATA)}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return generate_fourq(
        tmp_path_factory.mktemp("clean"), n_clips=12, seed=4, clip_seconds=SECONDS, progress=False
    )


def test_layout_and_tables_are_the_authors(clean):
    manifest = json.loads((clean / MANIFEST).read_text())
    clips = manifest["clips"]
    assert manifest["complete"] and len(clips) == 12
    assert Counter(c["quadrant"] for c in clips) == {1: 3, 2: 3, 3: 3, 4: 3}
    for clip in clips:
        path = clean / ROOT / f"Q{clip['quadrant']}" / f"{clip['song']}.mp3"
        assert path.is_file() and len(load_audio(path)) / 16_000 == pytest.approx(SECONDS, abs=0.2)
    annotations = (clean / ROOT / ANNOTATIONS).read_bytes()
    assert annotations.startswith(b"Song,Quadrant\r\n") and annotations.count(b"\r\n") == 13
    assert annotations.count(b"\n") == 13  # CRLF throughout
    metadata = (clean / ROOT / METADATA).read_bytes()
    assert metadata.startswith(b'"Song","Artist","Title","Quadrant","PQuad"')
    with pytest.raises(UnicodeDecodeError):
        metadata.decode("utf-8")  # one line is Windows-1252, as in some exports
    assert "Mírala 2".encode("cp1252") in metadata and b'"The ""Live"" Take 1"' in metadata
    artists = Counter(c["artist"] for c in clips)
    assert max(artists.values()) >= 2 and len(artists) < len(clips)  # artists recur
    assert all(0.5 <= c["pquad"] <= 1.0 for c in clips)


def test_each_clips_cues_stay_inside_its_quadrant(clean):
    for clip in json.loads((clean / MANIFEST).read_text())["clips"]:
        valence, arousal = QUADRANT_SIGNS[clip["quadrant"]]
        assert clip["valence_clip_mean"] * valence > 0
        assert clip["arousal_clip_mean"] * arousal > 0


def test_planted_faults_are_where_the_manifest_says(fourq_faulty):
    manifest = json.loads((fourq_faulty / MANIFEST).read_text())
    planted = manifest["planted"]
    assert {name: len(songs) for name, songs in planted.items()} == {
        "missing_audio": 1,
        "bad_rows": 1,
        "unknown_quadrant": 1,
        "corrupt_audio": 1,
    }
    faulty = [song for songs in planted.values() for song in songs]
    assert len(set(faulty)) == 4  # each fault on its own clip
    quadrant = {c["song"]: c["quadrant"] for c in manifest["clips"]}
    [missing] = planted["missing_audio"]
    assert not list(fourq_faulty.rglob(f"{missing}.mp3"))
    [corrupt] = planted["corrupt_audio"]
    with pytest.raises(AudioError):
        load_audio(fourq_faulty / ROOT / f"Q{quadrant[corrupt]}" / f"{corrupt}.mp3")
    rows = (fourq_faulty / ROOT / ANNOTATIONS).read_text().splitlines()
    assert planted["bad_rows"][0] in rows
    assert f"{planted['unknown_quadrant'][0]},Q5" in rows


def test_same_arguments_give_the_same_set_and_a_rerun_keeps_it(clean, tmp_path):
    again = generate_fourq(tmp_path / "again", n_clips=12, seed=4, clip_seconds=SECONDS)
    assert _tables(again) == _tables(clean)
    ours, theirs = sorted(clean.rglob("*.mp3")), sorted(again.rglob("*.mp3"))
    assert [p.relative_to(clean) for p in ours] == [p.relative_to(again) for p in theirs]
    assert (load_audio(ours[0]) == load_audio(theirs[0])).all()
    stamps = {p: p.stat().st_mtime_ns for p in again.rglob("*") if p.is_file()}
    assert generate_fourq(tmp_path / "again", n_clips=12, seed=4, clip_seconds=SECONDS) == again
    assert {p: p.stat().st_mtime_ns for p in again.rglob("*") if p.is_file()} == stamps
    other = generate_fourq(tmp_path / "again", n_clips=8, seed=5, clip_seconds=SECONDS)
    assert len(list(other.rglob("*.mp3"))) == 8  # another set replaces it, nothing stale left
    assert _tables(other) != _tables(clean)


def test_folders_that_are_not_a_synthetic_4q_are_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="not empty and not a synthetic 4Q"):
        generate_fourq(tmp_path, n_clips=4, clip_seconds=SECONDS)
    deam = tmp_path / "deam"
    deam.mkdir()
    (deam / MANIFEST).write_text(json.dumps({"complete": True, "parameters": {"version": 1}}))
    with pytest.raises(UserError, match="another synthetic dataset"):
        generate_fourq(deam, n_clips=4, clip_seconds=SECONDS)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"n_clips": 3}, "n_clips"),
        ({"clip_seconds": 2.0}, "clip_seconds"),
        ({"faults": FourQFaults(missing_audio=2, corrupt_audio=1)}, "at most half"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, kwargs, words):
    with pytest.raises(UserError, match=words):
        generate_fourq(tmp_path, **{"n_clips": 4, "clip_seconds": SECONDS, **kwargs})
    assert not any(tmp_path.iterdir())


def test_fault_counts_are_checked():
    with pytest.raises(UserError, match="bad_rows must be a count"):
        FourQFaults(bad_rows=-1)
    assert FourQFaults(1, 2, 3, 4).total == 10
