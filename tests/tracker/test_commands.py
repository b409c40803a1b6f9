"""`emotrack file` / `emotrack live` as users run them: exit codes, stdout lines, stderr
messages, CSV/JSON outputs, batches with bad files, and the mood word."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emotrack.main import main
from emotrack.models.scale import mood, quadrant
from emotrack.tracker.output import summarise
from emotrack.tracker.session import Estimate

LINE = re.compile(r"^ +(\d+\.\d\d) s  valence (\d\.\d\d)  arousal (\d\.\d\d)  ([a-z]+)$")


@pytest.fixture
def track(cnn_run, capsys):
    """track(*args, model=True) -> (exit code, stdout, stderr) of `emotrack ARGS`."""

    def run(*args, model: bool = True):
        argv = [str(a) for a in args]
        if model:
            argv += ["--model", str(cnn_run / "model.onnx"), "--device", "cpu"]
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_headless_prints_one_readable_line_per_window(track, song):
    code, out, err = track("file", song, "--no-tui", "--fast")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 15
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines[:3]
    assert [float(m.group(1)) for m in parsed] == pytest.approx(np.arange(5, 12.01, 0.5))
    assert all(m.group(4) == mood(float(m.group(2)), float(m.group(3))) for m in parsed)
    assert f"{song}: ok" in err and "15 windows" in err and "0 dropped" in err


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_machine_formats_on_stdout(track, song, fmt):
    code, out, _ = track("file", song, "--no-tui", "--fast", "--format", fmt)
    assert code == 0
    if fmt == "csv":
        rows = list(csv.DictReader(out.splitlines()))
    else:
        rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 15
    assert {"file", "time", "valence", "arousal", "mood"} <= set(rows[0])
    assert rows[0]["file"] == str(song) and float(rows[0]["time"]) == 5.0
    assert all(1 <= float(r["valence"]) <= 9 and 1 <= float(r["arousal"]) <= 9 for r in rows)


def test_csv_and_json_hold_timeline_and_summary(track, song, tmp_path):
    out_csv, out_json = tmp_path / "out" / "va.csv", tmp_path / "va.json"
    code, _, err = track(
        "file", song, "--no-tui", "--fast", "--smooth", "0.5", "--csv", out_csv, "--json", out_json
    )
    assert code == 0 and "wrote" in err
    timeline = list(csv.DictReader(out_csv.open()))
    assert len(timeline) == 15 and float(timeline[-1]["time"]) == 12.0
    valence = np.array([float(r["valence"]) for r in timeline])
    summary = list(csv.DictReader((tmp_path / "out" / "va.summary.csv").open()))
    assert len(summary) == 1 and summary[0]["status"] == "ok"
    assert float(summary[0]["valence_mean"]) == pytest.approx(valence.mean(), abs=1e-3)
    assert float(summary[0]["valence_max"]) == pytest.approx(valence.max(), abs=1e-3)
    shares = [float(v) for k, v in summary[0].items() if k.startswith("share_")]
    assert len(shares) == 4 and sum(shares) == pytest.approx(1.0)
    document = json.loads(out_json.read_text())
    entry = document["files"][0]
    assert document["scale"] == "1..9" and entry["file"] == str(song)
    assert len(entry["timeline"]) == 15 and entry["summary"]["windows"] == 15
    assert entry["summary"]["mood"] == summary[0]["mood"]
    assert entry["stats"]["dropped"] == 0 and entry["error"] is None
    smoothed_away = [r for r in timeline if r["valence"] != r["raw_valence"]]
    assert smoothed_away  # the shown values are smoothed, the raw ones kept


def _odd_but_valid(folder):
    """Files that must track (finite values): 8 channels, 8 kHz, 96 kHz, silence, NaNs."""
    t8, t96 = np.arange(8_000 * 6) / 8_000, np.arange(96_000 * 6) / 96_000
    sf.write(folder / "eight-channels.wav", np.tile(np.sin(t8 * 900)[:, None], 8) * 0.3, 8_000)
    sf.write(folder / "8khz.wav", np.sin(t8 * 2_000) * 0.3, 8_000)
    sf.write(folder / "96khz.flac", np.sin(t96 * 5_000) * 0.3, 96_000, subtype="PCM_24")
    sf.write(folder / "silence.wav", np.zeros(16_000 * 6), 16_000)
    nan = np.sin(np.arange(16_000 * 6) * 0.1).astype(np.float32)
    nan[5_000:9_000] = np.nan
    sf.write(folder / "nan.wav", nan, 16_000, subtype="FLOAT")


def _bad(folder):
    """name -> what the message must say."""
    (folder / "empty.mp3").write_bytes(b"")
    (folder / "notes.mp3").write_text("lyrics, not audio\n" * 100)
    rng = np.random.default_rng(1)
    (folder / "corrupt.wav").write_bytes(b"RIFF" + rng.integers(0, 256, 9_000, np.uint8).tobytes())
    sf.write(folder / "short.wav", np.sin(np.arange(16_000 * 3) * 0.1) * 0.3, 16_000)
    return {
        "empty.mp3": "not readable audio",
        "notes.mp3": "not readable audio",
        "corrupt.wav": "not readable audio",
        "short.wav": "only 3.00 s long; tracking needs at least 5 s",
        "missing.wav": "no such file",
    }


def test_batch_reports_bad_files_and_goes_on_with_the_others(track, tmp_path, mp3_song):
    folder = tmp_path / "music"
    folder.mkdir()
    _odd_but_valid(folder)
    bad = _bad(folder)
    (folder / "cover.jpg").write_bytes(b"\xff\xd8 not audio, and skipped by extension")
    report = tmp_path / "batch.json"
    code, out, err = track(
        "file", folder, mp3_song, folder / "missing.wav", "--fast", "--format", "csv",
        "--json", report, "--csv", tmp_path / "batch.csv",
    )  # fmt: skip
    assert code == 1
    files = {Path(f["file"]).name: f for f in json.loads(report.read_text())["files"]}
    assert "cover.jpg" not in files and len(files) == 11
    for name in ("eight-channels.wav", "8khz.wav", "96khz.flac", "nan.wav"):
        entry = files[name]
        values = np.array([(p["valence"], p["arousal"]) for p in entry["timeline"]])
        assert entry["status"] == "ok" and len(values) == 3, name
        assert np.isfinite(values).all() and values.min() >= 1 and values.max() <= 9
    assert [p["flags"] for p in files["nan.wav"]["timeline"]] == ["non-finite"] * 2 + [""]
    assert "low bandwidth" in files["8khz.wav"]["warnings"][0]
    assert files["silence.wav"]["status"] == "failed"
    assert "no music: every window is silent (3 of 3)" in files["silence.wav"]["error"]
    assert files["song.mp3"]["status"] == "ok" and len(files["song.mp3"]["timeline"]) == 9
    for name, says in bad.items():
        assert files[name]["status"] == "failed", name
        assert says in files[name]["error"], files[name]["error"]
        assert re.search(rf"error: .*{re.escape(name)}.*{re.escape(says)}", err), name
    table = err[err.index("file ") :]
    assert all(name in table for name in files)  # the summary table names every file
    rows = list(csv.DictReader(out.splitlines()))
    assert {Path(r["file"]).name for r in rows} == {n for n, f in files.items() if f["timeline"]}
    assert {r["mood"] for r in rows if r["file"].endswith("silence.wav")} == {"silent"}
    summary = list(csv.DictReader((tmp_path / "batch.summary.csv").open()))
    assert len(summary) == 11 and sum(r["status"] == "failed" for r in summary) == 6


@pytest.mark.parametrize("name", ["short.wav", "corrupt.wav", "missing.wav"])
def test_one_bad_file_fails_with_a_clear_message(track, tmp_path, name, monkeypatch):
    """Exit 2 (bad input) headless and in the UI alike: the same file, the same code."""
    from emotrack.tracker import commands

    says = _bad(tmp_path)[name]
    code, out, err = track("file", tmp_path / name, "--no-tui")
    assert code == 2 and out == ""
    assert f"emotrack file: error: {tmp_path / name}" in err and says in err
    assert "Traceback" not in err
    monkeypatch.setattr(commands, "_want_tui", lambda args: True)  # as from a terminal
    code, out, err_tui = track("file", tmp_path / name)
    assert code == 2 and out == "" and says in err_tui and "Traceback" not in err_tui


def test_a_model_computed_with_other_audio_parameters_is_refused(track, cnn_run, tmp_path, song):
    import torch

    from emotrack.models.emotion import read_checkpoint

    data = read_checkpoint(cnn_run / "best.pt")
    data["audio"]["f_max"] = 4000.0
    torch.save(data, tmp_path / "old.pt")
    code, out, err = track("file", song, "--no-tui", "--model", tmp_path / "old.pt", model=False)
    assert code == 2 and out == ""
    assert "emotrack file: error:" in err and "f_max: 4000.0 != 8000.0" in err and "retrain" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--model", "nowhere"], "nowhere: no such model"),
        (["--model", "{run}", "--step", "0"], "--step 0.0: the step must be a positive"),
        (["--model", "{run}", "--smooth", "1.5"], "--smooth 1.5"),
        (["--model", "{run}", "--csv", "{tmp}"], "is a folder"),
    ],
    ids=["missing-model", "hop", "smooth", "csv-folder"],
)
def test_bad_options_exit_2_and_say_what_to_do(
    track, song, cnn_run, tmp_path, monkeypatch, args, says
):
    monkeypatch.delenv("EMOTRACK_MODEL", raising=False)
    args = [a.format(run=cnn_run, tmp=tmp_path) for a in args]
    code, _, err = track("file", song, "--no-tui", *args, model=False)
    assert code == 2 and says in err


def test_model_defaults_to_env_then_the_shipped_model(track, song, cnn_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EMOTRACK_MODEL", str(cnn_run))
    code, out, err = track("file", song, "--no-tui", "--fast", model=False)
    assert code == 0 and out.strip() and "shipped" not in err
    monkeypatch.delenv("EMOTRACK_MODEL")
    code, out, err = track("file", song, "--no-tui", "--fast", model=False)
    assert code == 0 and len(out.splitlines()) == 15
    assert "using the model shipped with emotrack (trained on real music, the 4Q dataset" in err
    assert "emotrack-4q.onnx (cnn_fusion" in err and "1 + 8 x P(positive valence" in err


def test_without_a_shipped_model_no_model_is_a_clear_error(track, song, monkeypatch):
    """A copy of emotrack built without models/shipped/ (e.g. from a source tree)."""
    from emotrack.tracker import commands

    monkeypatch.delenv("EMOTRACK_MODEL", raising=False)
    monkeypatch.setattr(commands, "shipped_model", lambda: None)
    code, _, err = track("file", song, "--no-tui", model=False)
    assert code == 2 and "no model given and this copy of emotrack ships none" in err
    assert "--model" in err and "emotrack-train" in err


@pytest.mark.parametrize(
    ("command", "own"),
    [("file", ("--fast", "--no-play", "PATH")), ("live", ("--device-in", "--list-devices"))],
)
def test_help_explains_the_options(capsys, command, own):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--model", "--no-tui", "--hop", "--smooth", "--csv", "--json", *own):
        assert option in text


def test_live_lists_devices_and_tracks_the_microphone(track, pulse, tmp_path):
    code, out, _ = track("live", "--list-devices", model=False)
    assert code == 0 and "(default input)" in out and "pulse" in out
    code, out, err = track("live", "--device-in", "99", "--no-tui")
    assert code == 2 and "no input device 99" in err
    code, out, err = track("live", "--no-tui", "--duration", "6", "--json", tmp_path / "live.json")
    assert code == 0, err
    times = [float(LINE.match(line).group(1)) for line in out.splitlines()]
    assert times == [5.0, 5.5, 6.0]
    entry = json.loads((tmp_path / "live.json").read_text())["files"][0]
    assert entry["status"] == "ok" and entry["stats"]["windows"] == 3
    assert "microphone" in err and "error" not in err


# ---------------------------------------------------------------------------- mood


@pytest.mark.parametrize(
    ("valence", "arousal", "word"),
    [
        (5.0, 5.0, "neutral"),
        (5.3, 4.8, "neutral"),
        (8.0, 5.5, "happy"),
        (7.0, 8.0, "excited"),
        (4.5, 8.5, "tense"),
        (2.0, 7.0, "angry"),
        (2.0, 4.0, "sad"),
        (4.0, 1.5, "depressed"),
        (5.8, 2.0, "calm"),
        (8.0, 3.5, "relaxed"),
        (float("nan"), 5.0, "neutral"),
    ],
)
def test_mood_words_go_around_the_plane(valence, arousal, word):
    assert mood(valence, arousal) == word


def test_summary_counts_quadrants_and_names_the_mood_of_the_mean():
    points = [(7, 7), (7, 6), (3, 7), (3, 3), (6, 2)]
    timeline = [Estimate(5 + i / 2, v, a, v, a, 1.0) for i, (v, a) in enumerate(points)]
    summary = summarise(timeline)
    assert summary.quadrant_share == {
        "happy/excited": 0.4,
        "tense/angry": 0.2,
        "sad/depressed": 0.2,
        "calm/relaxed": 0.2,
    }
    assert summary.valence_mean == pytest.approx(5.2) and summary.arousal_min == 2
    assert summary.mood == mood(5.2, 5.0) and quadrant(5.0, 5.0) == "happy/excited"
    assert summarise([]) is None


def test_a_folder_of_every_common_format_is_tracked(track, ffmpeg_songs, damaged_mp3s, tmp_path):
    """An iTunes-like folder: AAC and ALAC .m4a, Opus, WMA, a video's sound, WebM, and MP3s
    with damage: every file is found and tracked, damage is named."""
    folder = tmp_path / "library"
    folder.mkdir()
    for path in [*ffmpeg_songs.values(), damaged_mp3s["damaged"], damaged_mp3s["truncated"]]:
        shutil.copy(path, folder / path.name)
    report = tmp_path / "library.json"
    code, _, err = track("file", folder, "--fast", "--no-tui", "--json", report)
    assert code == 0, err
    files = {Path(f["file"]).name: f for f in json.loads(report.read_text())["files"]}
    assert set(files) == {*ffmpeg_songs, "damaged.mp3", "truncated.mp3"}
    for name in ffmpeg_songs:
        assert files[name]["status"] == "ok" and len(files[name]["timeline"]) >= 14, name
        decoding = [w for w in files[name]["warnings"] if not w.startswith("low bandwidth")]
        assert decoding == [], name  # (a 330 Hz tone is narrow-band: that warning is right)
    assert len(files["damaged.mp3"]["timeline"]) > 100  # past the damage at 20 s
    assert any("damaged:" in w for w in files["damaged.mp3"]["warnings"])
    assert any("truncated:" in w for w in files["truncated.mp3"]["warnings"])
    assert "warning: truncated" in err
