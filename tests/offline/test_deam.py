"""Reading DEAM the way it really ships: quirky label files, any nesting, bad input."""

from __future__ import annotations

import shutil

import numpy as np
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
from emotrack.offline.deam import find_deam_root, load_deam
from emotrack.offline.deam_files import UNKNOWN_ID
from emotrack.offline.deam_labels import read_dynamic, read_static
from emotrack.offline.deam_records import year_of

SONG_LEVEL = "DEAM_Annotations/annotations/annotations averaged per song/song_level"
DYNAMIC = (
    "DEAM_Annotations/annotations/annotations averaged per song/dynamic (per second annotations)"
)


def write_bytes(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("song_id", "year"),
    [(1, 2013), (1000, 2013), (1001, 2014), (2000, 2014), (2001, 2015), (2058, 2015)],
)
def test_year_of_follows_the_id_ranges(song_id, year):
    assert year_of(song_id) == year


@pytest.mark.parametrize("song_id", [0, -3, 2059])
def test_year_of_refuses_ids_outside_deam(song_id):
    with pytest.raises(ValueError, match=str(song_id)):
        year_of(song_id)


# ---------------------------------------------------------------------------- static files


def test_static_crlf_with_spaces_after_commas(tmp_path):
    path = write_bytes(
        tmp_path / "static_annotations_averaged_songs_1_2000.csv",
        b"song_id, valence_mean, valence_std, arousal_mean, arousal_std\r\n"
        b"2,3.1,0.94,3,0.63\r\n3,3.5,1.75,3.3,1.62\r\n1000,5.7,1.42,5.5,1.63\r\n",
    )
    problems = []
    rows = read_static(path, problems)
    assert problems == []
    assert sorted(rows) == [2, 3, 1000]
    assert (rows[2].valence_mean, rows[2].valence_std) == (3.1, 0.94)
    assert (rows[2].arousal_mean, rows[2].arousal_std) == (3.0, 0.63)


def test_static_2015_file_matches_columns_by_name_despite_the_typo(tmp_path):
    header = (
        b"song_id, valence_mean, valence_std, valence_ max_mean, valence_max_std, "
        b"valence_min_mean, valence_min_std, arousal_mean, arousal_std, arousal_max_mean, "
        b"arousal_max_std, arousal_min_mean, arousal_min_std\r\n"
    )
    path = write_bytes(
        tmp_path / "static_annotations_averaged_songs_2000_2058.csv",
        header
        + b"2001,3.2,0.98,5.0,1.41,2.2,0.98,6.6,0.8,8.6,0.49,3.4,1.02\r\n"
        + b"2002,6.4,0.49,8.2,0.98,5.0,1.1,5.2,1.17,7.4,1.36,2.2,1.17\r\n",
    )
    problems = []
    rows = read_static(path, problems)
    assert problems == []
    assert sorted(rows) == [2001, 2002]  # the name says 2000 but the first id is 2001
    first = rows[2001]
    assert (first.valence_mean, first.valence_std) == (3.2, 0.98)
    assert (first.arousal_mean, first.arousal_std) == (6.6, 0.8)  # column 8, not 4


def test_static_hand_edited_copy_lf_bom_padding_and_other_column_order(tmp_path):
    path = write_bytes(
        tmp_path / "static_annotations_averaged_songs_1_2000.csv",
        "\ufeff  Song_ID , arousal_mean,arousal_std , valence_mean, valence_std\n"
        "   2001,         6.6 ,        0.8,   3.2 ,  0.98\n"
        "\n"
        '   "7",  5.0, 1.0, 4.0, 2.0,\n'.encode(),
    )
    problems = []
    rows = read_static(path, problems)
    assert problems == []
    assert (rows[2001].valence_mean, rows[2001].arousal_mean) == (3.2, 6.6)
    assert (rows[7].valence_mean, rows[7].valence_std, rows[7].arousal_std) == (4.0, 2.0, 1.0)


def test_static_bad_rows_are_reported_by_file_and_line_and_the_rest_loads(tmp_path):
    path = write_bytes(
        tmp_path / "static.csv",
        b"song_id, valence_mean, valence_std, arousal_mean, arousal_std\r\n"
        b"2,3.1,0.94,3,0.63\r\n"  # line 2 fine
        b"3,three,1.75,3.3,1.62\r\n"  # 3 non-numeric
        b"4,5.7,1.42\r\n"  # 4 too few columns
        b"5,9.5,1.0,5.0,1.0\r\n"  # 5 out of range
        b"6,5.0,1.0,5.0,1.0,7\r\n"  # 6 too many columns
        b"abc,5.0,1.0,5.0,1.0\r\n"  # 7 bad id
        b"2100,5.0,1.0,5.0,1.0\r\n"  # 8 id outside DEAM
        b"9,5.0,-1,5.0,1.0\r\n"  # 9 bad std: mean kept
        b"2,4.0,1.0,4.0,1.0\r\n"  # 10 duplicate
        b"11,nan,1.0,5.0,1.0\r\n",  # 11 missing mean
    )
    problems = []
    rows = read_static(path, problems)
    assert sorted(rows) == [2, 9]
    assert rows[2].valence_mean == 3.1  # the first of the duplicates
    assert rows[9].valence_std is None and rows[9].valence_mean == 5.0
    by_line = {p.row: p for p in problems}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert by_line[10].kind == DUPLICATE
    for line, words in {3: "'three'", 4: "3 values", 5: "9.5", 6: "6 values", 7: "'abc'",
                        8: "2100", 9: "valence_std", 11: "valence_mean"}.items():  # fmt: skip
        problem = by_line[line]
        assert problem.path == path and problem.kind == BAD_ROW
        assert f"{path}, line {line}:" in problem.message and words in problem.message


def test_static_header_without_needed_columns_is_a_problem(tmp_path):
    path = write_bytes(tmp_path / "static.csv", b"id;valence;arousal\r\n2;3;4\r\n")
    problems = []
    assert read_static(path, problems) == {}
    assert [p.kind for p in problems] == [BAD_HEADER]
    assert "song_id" in problems[0].message and "line 1" in problems[0].message


# ---------------------------------------------------------------------------- dynamic files


def dynamic_text(rows: list[str], width: int) -> bytes:
    header = ",".join(["song_id", *(f"sample_{15000 + 500 * k}ms" for k in range(width))])
    return ("\r\n".join([header, *rows]) + "\r\n").encode()


def test_dynamic_wide_file_with_empty_cells_nan_short_rows_and_long_songs(tmp_path):
    width = 1200  # as wide as the longest 2015 song
    clip = [f"{0.01 * k:.2f}" for k in range(60)]
    rows = [
        ",".join(["2", *clip, *[""] * (width - 60)]),  # 60 frames, then empty cells
        ",".join(["3", *clip, "0.7", *[""] * (width - 61)]),  # a 61st frame at 45.0 s
        ",".join(["4", "0.1", "NaN", "", "0.4", *clip[4:]]),  # short row: no trailing cells
        ",".join(["2001", *(f"{np.sin(k / 50):.3f}" for k in range(1199)), ""]),
    ]
    path = write_bytes(tmp_path / "valence.csv", dynamic_text(rows, width))
    problems = []
    curves = read_dynamic(path, problems)
    assert problems == []
    two, three, four, long = curves[2], curves[3], curves[4], curves[2001]
    np.testing.assert_allclose(two.times, 15.0 + 0.5 * np.arange(60))
    np.testing.assert_allclose(two.values, 0.01 * np.arange(60))
    assert len(three.times) == 61 and three.times[-1] == 45.0 and three.values[-1] == 0.7
    assert len(four.times) == 58 and 15.5 not in four.times and 16.0 not in four.times
    assert four.times[0] == 15.0 and four.times[1] == 16.5
    assert len(long.times) == 1199 and long.times[-1] == pytest.approx(15.0 + 0.5 * 1198)
    assert long.values.min() >= -1 and long.values.max() <= 1
    assert two.times.dtype == np.float64


def test_dynamic_bad_rows_are_reported_and_the_rest_loads(tmp_path):
    rows = [
        "2,0.1,0.2,0.3",
        "3,0.1,oops,0.3",  # line 3
        "4,0.1,1.5,0.3",  # line 4 out of range
        "5,0.1,0.2,0.3,0.4,,",  # line 5: a value past the last column
        "6,,,",  # line 6: no values
        "2,0.0,0.0,0.0",  # line 7 duplicate
    ]
    path = write_bytes(tmp_path / "arousal.csv", dynamic_text(rows, 3))
    problems = []
    curves = read_dynamic(path, problems)
    assert sorted(curves) == [2]
    assert {p.row: p.kind for p in problems} == {
        3: BAD_ROW,
        4: BAD_ROW,
        5: BAD_ROW,
        6: BAD_ROW,
        7: DUPLICATE,
    }
    messages = {p.row: p.message for p in problems}
    assert "'oops'" in messages[3] and "sample_15500ms" in messages[3]
    assert "1.5" in messages[4] and "-1..1" in messages[4]
    assert all(f"{path}, line {row}" in message for row, message in messages.items())


def test_dynamic_header_without_sample_columns_is_a_problem(tmp_path):
    path = write_bytes(tmp_path / "valence.csv", b"song_id,t1,t2\n2,0.1,0.2\n")
    problems = []
    assert read_dynamic(path, problems) == {}
    assert problems[0].kind == BAD_HEADER and "sample_15000ms" in problems[0].message


# ---------------------------------------------------------------------------- whole folders


def small_set(agreeing_songs):
    songs = agreeing_songs([2, 3, 1500], audio=45.0)
    songs.update(agreeing_songs([2001], seed=1, audio=45.0, frames=61))
    return songs


@pytest.mark.parametrize("layout", ["kaggle", "underscores", "extra-levels", "flat"])
def test_load_finds_files_whatever_the_nesting(tmp_path, write_deam, agreeing_songs, layout):
    root = write_deam(tmp_path / "deam", small_set(agreeing_songs), layout=layout)
    deam = load_deam(root)
    assert deam.problems == []
    assert sorted(deam.songs) == [2, 3, 1500, 2001]
    assert [s.song_id for s in deam.labelled("both")] == [2, 3, 1500, 2001]
    song = deam.songs[2001]
    assert song.year == 2015 and song.audio_path.name == "2001.mp3"
    assert song.duration == pytest.approx(45.0, abs=0.05)
    assert song.valence_mean is not None and song.arousal_std == pytest.approx(1.1)
    assert len(song.arousal_curve.times) == 61


def test_load_ignores_per_rater_files_and_archive_junk(tmp_path, write_deam, agreeing_songs):
    root = write_deam(tmp_path, small_set(agreeing_songs))
    rater = tmp_path / "DEAM_Annotations/annotations/annotations per each rater"
    write_bytes(rater / "dynamic (per second annotations)/valence.csv", b"garbage\n")
    write_bytes(rater / "song_level/static_annotations_songs_1_2000.csv", b"garbage\n")
    write_bytes(tmp_path / "__MACOSX/DEAM_audio/MEMD_audio/._2.mp3", b"junk")
    deam = load_deam(root)
    assert deam.problems == []
    assert deam.files.valence.parent.name == "dynamic (per second annotations)"
    assert "rater" not in str(deam.files.valence.relative_to(tmp_path))


def test_a_macos_resource_file_beside_audio_does_not_break_it(tmp_path, write_deam, agreeing_songs):
    root = write_deam(tmp_path, small_set(agreeing_songs))
    write_bytes(tmp_path / "DEAM_audio/MEMD_audio/._3.mp3", b"junk")  # libsndfile's fork name
    deam = load_deam(root)
    assert deam.problems == []
    assert deam.songs[3].duration is not None


def test_a_second_copy_is_reported_and_the_shallowest_used(tmp_path, write_deam, agreeing_songs):
    root = write_deam(tmp_path, small_set(agreeing_songs))
    copy = tmp_path / "old/DEAM_audio/MEMD_audio/2.mp3"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(tmp_path / "DEAM_audio/MEMD_audio/2.mp3", copy)
    deam = load_deam(root)
    assert [(p.kind, p.path) for p in deam.problems] == [(DUPLICATE, copy)]
    assert deam.songs[2].audio_path == tmp_path / "DEAM_audio/MEMD_audio/2.mp3"


def test_overlapping_static_files_and_odd_audio_names_are_reported(
    tmp_path, write_deam, agreeing_songs, mp3
):
    root = write_deam(tmp_path, small_set(agreeing_songs))
    first = tmp_path / SONG_LEVEL / "static_annotations_averaged_songs_1_2000.csv"
    second = first.with_name("static_annotations_averaged_songs_1_2000 (edited).csv")
    second.write_bytes(first.read_bytes().replace(b"\r\n2,", b"\r\n7,"))
    shutil.copyfile(mp3(6.0), tmp_path / "DEAM_audio/MEMD_audio/2100.mp3")
    deam = load_deam(root)
    assert sorted(p.kind for p in deam.problems) == [DUPLICATE, UNKNOWN_ID]
    duplicate = next(p for p in deam.problems if p.kind == DUPLICATE)
    assert duplicate.path in (first, second)  # one problem for the file, not one per song
    assert "2 songs (e.g. 3, 1500) are also in an earlier static file" in duplicate.message
    assert deam.songs[7].valence_mean == deam.songs[2].valence_mean  # the new row is used
    odd = next(p for p in deam.problems if p.kind == UNKNOWN_ID)
    assert odd.path.name == "2100.mp3" and "1..2058" in odd.message
    assert 2100 not in deam.songs


def test_missing_files_are_problems_and_the_rest_loads(tmp_path, write_deam, agreeing_songs):
    root = write_deam(tmp_path, small_set(agreeing_songs))
    (tmp_path / DYNAMIC / "arousal.csv").unlink()
    deam = load_deam(root)
    assert [p.kind for p in deam.problems] == [MISSING_FILE]
    assert "arousal.csv" in deam.problems[0].message
    assert "--data-dir" in deam.problems[0].message
    assert len(deam.labelled("static")) == 4
    assert deam.labelled("dynamic") == [] and deam.labelled("both") == []
    assert deam.songs[2].valence_curve is not None and deam.songs[2].arousal_curve is None


def test_unreadable_and_short_audio_keep_the_song_but_leave_it_out(
    tmp_path, write_deam, agreeing_songs
):
    songs = small_set(agreeing_songs)
    songs[3]["audio"] = "corrupt"
    songs[1500]["audio"] = 3.0
    root = write_deam(tmp_path, songs)
    deam = load_deam(root)
    kinds = {p.kind: p for p in deam.problems}
    assert set(kinds) == {UNREADABLE_AUDIO, SHORT_AUDIO}
    assert kinds[UNREADABLE_AUDIO].path.name == "3.mp3"
    assert str(kinds[UNREADABLE_AUDIO].path) in kinds[UNREADABLE_AUDIO].message
    assert "1500.mp3" in kinds[SHORT_AUDIO].message and "3.00 s" in kinds[SHORT_AUDIO].message
    assert deam.songs[3].duration is None and deam.songs[3].valence_mean is not None
    assert deam.songs[1500].duration == pytest.approx(3.0, abs=0.05)
    assert [s.song_id for s in deam.labelled("static")] == [2, 2001]


def test_labelled_by_kind(tmp_path, write_deam, agreeing_songs):
    songs = small_set(agreeing_songs)
    del songs[3]["valence"], songs[3]["arousal"]  # static only
    del songs[1500]["static"]  # dynamic only
    deam = load_deam(write_deam(tmp_path, songs))
    assert [s.song_id for s in deam.labelled("static")] == [2, 3, 2001]
    assert [s.song_id for s in deam.labelled("dynamic")] == [2, 1500, 2001]
    assert [s.song_id for s in deam.labelled("both")] == [2, 2001]
    with pytest.raises(UserError, match="static, dynamic, both"):
        deam.labelled("per-rater")


def test_load_without_any_deam_data_names_what_it_looked_for(tmp_path):
    (tmp_path / "notes.txt").write_text("not DEAM")
    with pytest.raises(UserError) as error:
        load_deam(tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message and "static_annotations_averaged_songs" in message
    assert "<song_id>.mp3" in message and "--data-dir" in message and "--download" in message
    with pytest.raises(UserError, match="no such folder"):
        load_deam(tmp_path / "absent")


def test_find_deam_root(tmp_path):
    assert find_deam_root(tmp_path) == tmp_path
    with pytest.raises(UserError, match="--data-dir"):
        find_deam_root(tmp_path / "absent")
    with pytest.raises(UserError, match="not both"):
        find_deam_root(tmp_path, download=True)
    with pytest.raises(UserError, match="--data-dir DIR .* --download"):
        find_deam_root()
