"""The 4Q reader: files found by walking, CSVs read as they ship, every problem named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from emotrack.models.errors import UserError
from emotrack.offline.datafiles import (
    BAD_HEADER,
    BAD_ROW,
    DUPLICATE,
    MISSING_FILE,
    SHORT_AUDIO,
    UNREADABLE_AUDIO,
)
from emotrack.offline.fourq import (
    FOLDER_MISMATCH,
    QUADRANT_SIGNS,
    UNKNOWN_QUADRANT,
    UNLABELLED_AUDIO,
    find_fourq_files,
    is_fourq_folder,
    load_fourq,
    quadrant_of,
    read_annotations,
    read_metadata,
)
from emotrack.offline.synth_writer import MANIFEST

ANNOTATIONS = "panda_dataset_taffc_annotations.csv"
METADATA = "panda_dataset_taffc_metadata.csv"
METADATA_HEADER = b'"Song","Artist","Title","Quadrant","PQuad","MoodsTotal","Genres","GenresStr"'


def _manifest(root: Path) -> dict:
    return json.loads((root / MANIFEST).read_text())


def test_quadrants_and_signs_agree():
    assert QUADRANT_SIGNS == {1: (1, 1), 2: (-1, 1), 3: (-1, -1), 4: (1, -1)}
    for quadrant, (valence, arousal) in QUADRANT_SIGNS.items():
        assert quadrant_of(valence > 0, arousal > 0) == quadrant


# ---------------------------------------------------------------------------- generated 4Q


def test_planted_faults_are_each_reported_by_name_and_the_rest_loads(fourq_faulty):
    planted = _manifest(fourq_faulty)["planted"]
    fourq = load_fourq(fourq_faulty)
    by_kind: dict[str, list] = {}
    for problem in fourq.problems:
        by_kind.setdefault(problem.kind, []).append(problem)

    [missing] = planted["missing_audio"]
    [reported] = by_kind[MISSING_FILE]
    assert missing in reported.message and f"{missing}.mp3" in reported.message

    [bad] = planted["bad_rows"]
    [row] = by_kind[BAD_ROW]
    assert row.path.name == ANNOTATIONS and bad in row.message and "no quadrant" in row.message
    lines = row.path.read_bytes().split(b"\r\n")
    assert lines[row.row - 1] == bad.encode()  # the line number points at the planted row

    [unknown] = planted["unknown_quadrant"]
    [odd] = by_kind[UNKNOWN_QUADRANT]
    assert unknown in odd.message and "'Q5'" in odd.message
    assert lines[odd.row - 1] == f"{unknown},Q5".encode()

    [corrupt] = planted["corrupt_audio"]
    [unreadable] = by_kind[UNREADABLE_AUDIO]
    assert unreadable.path.stem == corrupt and "left out" in unreadable.message

    # the bad and unknown rows' clips exist but have no quadrant now: named, not used
    assert sorted(p.path.stem for p in by_kind[UNLABELLED_AUDIO]) == sorted([bad, unknown])
    assert set(by_kind) == {
        MISSING_FILE,
        BAD_ROW,
        UNKNOWN_QUADRANT,
        UNREADABLE_AUDIO,
        UNLABELLED_AUDIO,
    }

    usable = {clip.song for clip in fourq.usable()}
    assert len(usable) == 16 - 4
    assert not usable & {missing, bad, unknown, corrupt}
    assert fourq.clips[missing].audio_path is None and not fourq.clips[missing].usable
    assert fourq.clips[corrupt].duration is None


def test_generated_clips_come_with_their_labels_and_metadata(fourq_faulty):
    truth = {clip["song"]: clip for clip in _manifest(fourq_faulty)["clips"]}
    fourq = load_fourq(fourq_faulty)
    for clip in fourq.usable():
        expected = truth[clip.song]
        assert clip.quadrant == expected["quadrant"]
        assert clip.audio_path.parent.name == f"Q{clip.quadrant}"
        assert clip.artist == expected["artist"] and clip.title == expected["title"]
        assert clip.confidence == pytest.approx(expected["pquad"])
        assert clip.genres == tuple(expected["genres"].split("; "))
        assert clip.signs == QUADRANT_SIGNS[clip.quadrant]
        assert 7.5 < clip.duration < 9.0
    titles = {clip.title for clip in fourq.clips.values()}
    # a comma and doubled quotes inside quoted fields, and the Windows-1252 line's accent
    assert {"Song, Part II 0", 'The "Live" Take 1', "Mírala 2"} <= titles
    assert "Einstürzende Töne 4" in {clip.artist for clip in fourq.clips.values()}


def test_a_4q_folder_is_found_at_any_depth(fourq_faulty, tmp_path):
    nested = tmp_path / "downloads" / "4Q emotion" / "unpacked"
    shutil.copytree(fourq_faulty, nested)
    assert is_fourq_folder(tmp_path)
    files = find_fourq_files(tmp_path)
    assert files.annotations.name == ANNOTATIONS and files.metadata.name == METADATA
    assert len(files.audio) == 16 - 1  # every clip but the missing one
    assert set(files.folders.values()) == {1, 2, 3, 4}
    fourq = load_fourq(tmp_path)
    assert len(fourq.usable()) == 12
    assert not is_fourq_folder(nested / "MER_audio_taffc_dataset" / "Q1")  # clips, no tables


# ---------------------------------------------------------------------------- as they ship


def _clip(folder: Path, song: str, mp3, seconds: float = 6.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mp3(seconds), folder / f"{song}.mp3")


@pytest.fixture
def shipped(tmp_path, mp3) -> Path:
    """A 4Q folder written byte by byte as the authors' files come: a BOM, quoted fields with
    commas and quotes, CRLF, one title in Windows-1252, lower-case and padded quadrants."""
    data = tmp_path / "4q" / "MER_audio_taffc_dataset"
    data.mkdir(parents=True)
    annotations = [
        b"\xef\xbb\xbfSong,Quadrant",
        b"MT0000000001,Q1",
        b"MT0000000002, q2 ",
        b"MT0000000003,Q3",
        b"MT0000000004,Q4",
        b"MT0000000005,Q4",
    ]
    (data / ANNOTATIONS).write_bytes(b"\r\n".join(annotations) + b"\r\n")
    metadata = [
        b"\xef\xbb\xbf" + METADATA_HEADER,
        b'"MT0000000001","Band, The","Say ""Hi"", Then Go","Q1",0.75,4,2,"Pop/Rock; Jazz"',
        '"MT0000000002","Sigur Rós","Hoppípolla","Q2",0.5,2,1,"Rock"'.encode(),
        '"MT0000000003","Beyoncé","Déjà Vu","Q3",1,3,1,"R&B"'.encode("cp1252"),
        b'"MT0000000004","Solo","Line one\nline two","Q4",0.6,5,1,"Jazz"',
        b'"MT0000000005","Solo","Plain","Q4",1.5,5,1,""',
    ]
    (data / METADATA).write_bytes(b"\r\n".join(metadata) + b"\r\n")
    for song, quadrant in ((1, 1), (2, 2), (3, 3), (4, 4), (5, 4)):
        _clip(data / f"Q{quadrant}", f"MT{song:010d}", mp3)
    return tmp_path / "4q"


def test_csvs_are_read_as_they_ship(shipped):
    fourq = load_fourq(shipped)
    clips = fourq.clips
    assert {song: clip.quadrant for song, clip in clips.items()} == {
        "MT0000000001": 1,
        "MT0000000002": 2,
        "MT0000000003": 3,
        "MT0000000004": 4,
        "MT0000000005": 4,
    }
    first = clips["MT0000000001"]
    assert (first.artist, first.title) == ("Band, The", 'Say "Hi", Then Go')
    assert first.confidence == 0.75 and first.genres == ("Pop/Rock", "Jazz")
    assert (clips["MT0000000002"].artist, clips["MT0000000002"].title) == (
        "Sigur Rós",
        "Hoppípolla",
    )
    assert (clips["MT0000000003"].artist, clips["MT0000000003"].title) == ("Beyoncé", "Déjà Vu")
    assert clips["MT0000000004"].title == "Line one\nline two"  # a quoted line break
    assert clips["MT0000000005"].confidence is None  # PQuad 1.5 is not a share
    [problem] = fourq.problems
    # line 7: the record before it spans two physical lines
    assert problem.kind == BAD_ROW and problem.row == 7 and "PQuad '1.5'" in problem.message
    assert "kept" in problem.message
    assert len(fourq.usable()) == 5


def test_the_annotation_file_wins_over_folders_and_metadata(shipped):
    data = shipped / "MER_audio_taffc_dataset"
    (data / "Q3" / "MT0000000003.mp3").rename(data / "Q2" / "MT0000000003.mp3")
    text = (data / METADATA).read_bytes().replace(b'"Q1",0.75', b'"Q2",0.75')
    (data / METADATA).write_bytes(text)
    fourq = load_fourq(shipped)
    assert fourq.clips["MT0000000003"].quadrant == 3
    assert fourq.clips["MT0000000001"].quadrant == 1
    [mismatch] = [p for p in fourq.problems if p.kind == FOLDER_MISMATCH]
    assert (
        "MT0000000003.mp3: in folder Q2 but" in mismatch.message and "says Q3" in mismatch.message
    )


def test_duplicate_rows_and_copies_are_named(shipped):
    data = shipped / "MER_audio_taffc_dataset"
    with open(data / ANNOTATIONS, "ab") as handle:
        handle.write(b"MT0000000001,Q3\r\n")  # line 7
    _clip(shipped / "backup" / "Q1", "MT0000000001", lambda s: data / "Q1" / "MT0000000001.mp3")
    fourq = load_fourq(shipped)
    duplicates = [p for p in fourq.problems if p.kind == DUPLICATE]
    assert {p.row for p in duplicates} == {7, None}
    row = next(p for p in duplicates if p.row == 7)
    assert "MT0000000001 again" in row.message and fourq.clips["MT0000000001"].quadrant == 1
    copy = next(p for p in duplicates if p.row is None)
    assert "backup" in str(copy.path) and "remove one copy" in copy.message
    assert fourq.clips["MT0000000001"].audio_path == data / "Q1" / "MT0000000001.mp3"


def test_rows_that_are_not_4q_ids_are_bad_rows(tmp_path):
    path = tmp_path / ANNOTATIONS
    path.write_bytes(b"Song,Quadrant\r\nMT0000000001,Q1\r\nsong 2,Q2\r\n,Q3\r\nMT0000000004,\r\n")
    problems: list = []
    assert read_annotations(path, problems) == {"MT0000000001": 1}
    assert [(p.kind, p.row) for p in problems] == [(BAD_ROW, 3), (BAD_ROW, 4), (BAD_ROW, 5)]
    assert "'SONG 2' is not a 4Q id" in problems[0].message
    assert "no song" in problems[1].message and "no quadrant" in problems[2].message


def test_a_table_without_the_columns_or_rows_is_a_bad_header(tmp_path):
    path = tmp_path / "a.csv"
    problems: list = []
    path.write_bytes(b"Id,Label\r\nMT0000000001,Q1\r\n")
    assert read_annotations(path, problems) == {}
    path.write_bytes(b"")
    assert read_metadata(path, problems) == {}
    assert [p.kind for p in problems] == [BAD_HEADER, BAD_HEADER]
    assert "no column song, quadrant" in problems[0].message and "empty" in problems[1].message


def test_without_metadata_clips_load_with_a_warning_and_no_artist(shipped):
    (shipped / "MER_audio_taffc_dataset" / METADATA).unlink()
    fourq = load_fourq(shipped)
    assert len(fourq.usable()) == 5 and all(c.artist is None for c in fourq.usable())
    [problem] = fourq.problems
    assert problem.kind == MISSING_FILE and "artist" in problem.message


def test_the_metadata_file_alone_gives_the_quadrants(shipped):
    (shipped / "MER_audio_taffc_dataset" / ANNOTATIONS).unlink()
    assert is_fourq_folder(shipped)
    fourq = load_fourq(shipped)
    assert fourq.clips["MT0000000002"].quadrant == 2 and fourq.clips["MT0000000002"].artist
    assert len(fourq.usable()) == 5


def test_short_clips_are_left_out_by_name(shipped, mp3):
    _clip(shipped / "MER_audio_taffc_dataset" / "Q4", "MT0000000005", mp3, seconds=2.0)
    fourq = load_fourq(shipped)
    [short] = [p for p in fourq.problems if p.kind == SHORT_AUDIO]
    assert short.path.name == "MT0000000005.mp3" and "shorter than one 5 s window" in short.message
    assert "MT0000000005" not in {c.song for c in fourq.usable()}


@pytest.mark.parametrize("make", [lambda p: p / "absent", lambda p: p])
def test_a_folder_without_4q_is_a_clear_error(tmp_path, make):
    with pytest.raises(UserError, match="mir.dei.uc.pt") as caught:
        load_fourq(make(tmp_path))
    assert str(make(tmp_path)) in str(caught.value)
    assert not is_fourq_folder(tmp_path)
