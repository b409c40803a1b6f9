"""Where outputs go, as users point them: `-` (stdout), a FIFO, /dev/stdout, a symlink, a
read-only place (refused before any work); and SIGTERM / SIGINT mid-batch keep what was
tracked. The CLI runs in a real subprocess where signals and descriptors matter."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from emotrack.main import main


def emotrack(*args, **kwargs) -> subprocess.Popen:
    """The CLI in a child process whose Ctrl+C (SIGINT) acts as in a terminal, also when the
    tests run as a background job (which starts with SIGINT ignored, and so would the child)."""
    return subprocess.Popen(
        [sys.executable, "-m", "emotrack", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **kwargs,
    )


@pytest.fixture
def model(cnn_run) -> list[str]:
    return ["--model", str(cnn_run / "model.onnx"), "--device", "cpu"]


@pytest.mark.parametrize("option", ["--json", "--csv", "--jsonl"])
def test_dash_is_stdout_and_logs_stay_on_stderr(song, model, tmp_path, option):
    done = emotrack("file", song, "--no-tui", "--fast", option, "-", *model, cwd=tmp_path)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    if option == "--json":
        assert len(json.loads(out)["files"][0]["timeline"]) == 15
    elif option == "--csv":
        assert len(list(csv.DictReader(io.StringIO(out)))) == 15
    else:
        assert len([json.loads(line) for line in out.splitlines()]) == 15
    assert "model:" in err and "wrote standard output" in err
    assert list(tmp_path.iterdir()) == []  # no file named "-"


def test_two_outputs_cannot_share_stdout(capsys):
    assert main(["file", "x.wav", "--json", "-", "--csv", "-"]) == 2
    assert "--csv and --json both write to standard output" in capsys.readouterr().err


def test_a_fifo_is_written_to_not_replaced(song, model, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    done = emotrack("file", song, "--no-tui", "--fast", "--jsonl", fifo, *model)
    _, err = done.communicate(timeout=120)
    reader.join(timeout=30)
    assert done.returncode == 0, err
    assert len(got[0].splitlines()) == 15 and fifo.is_fifo()


def test_dev_stdout_is_written_to_not_replaced(song, model):
    done = emotrack("file", song, "--no-tui", "--fast", "--json", "/dev/stdout", *model)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert json.loads(out)["files"][0]["status"] == "ok"
    assert Path("/dev/stdout").is_symlink()  # as root too: never replaced by a file


def test_a_symlink_is_written_through(song, model, tmp_path):
    target, link = tmp_path / "data" / "result.json", tmp_path / "latest.json"
    target.parent.mkdir()
    target.write_text("old")
    link.symlink_to(target)
    done = emotrack("file", song, "--no-tui", "--fast", "--json", link, *model)
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert link.is_symlink() and json.loads(target.read_text())["files"][0]["status"] == "ok"


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder this process cannot write into: mode bits for a user; for root (whom mode bits
    do not stop), /proc/sys, which no one can add files to."""
    if os.geteuid() == 0:
        return Path("/proc/sys")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_an_unwritable_output_is_refused_before_any_work(song, model, read_only_folder):
    started = time.monotonic()
    done = emotrack("file", song, "--no-tui", "--json", read_only_folder / "out.json", *model)
    out, err = done.communicate(timeout=60)
    assert done.returncode == 2 and out == ""
    assert f"--json {read_only_folder / 'out.json'}: cannot write into {read_only_folder}" in err
    assert "model:" not in err  # refused before the model was even loaded
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_batch_keeps_what_was_tracked(make_song, model, tmp_path, signum, code):
    songs = [make_song(f"{i}.wav", 7.0) for i in range(3)]
    out_csv, out_json = tmp_path / "timeline.csv", tmp_path / "all.json"
    done = emotrack(
        "file", *songs, "--no-tui", "--no-play", "--csv", out_csv, "--json", out_json, *model
    )  # paced in real time: 5 windows per song, one every 0.5 s after the first 5 s
    lines = 0
    while lines < 7:  # the first song done (5), two windows into the second
        assert done.stdout.readline(), done.stderr.read()
        lines += 1
    done.send_signal(signum)
    _, err = done.communicate(timeout=60)
    assert done.returncode == code, err
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) >= 7 and {Path(r["file"]).name for r in rows} == {"0.wav", "1.wav"}
    files = json.loads(out_json.read_text())["files"]
    assert [f["status"] for f in files] == ["ok", "interrupted"]
    assert len(files[0]["timeline"]) == 5 and len(files[1]["timeline"]) >= 2
    summary = list(csv.DictReader((tmp_path / "timeline.summary.csv").open()))
    assert [r["status"] for r in summary] == ["ok", "interrupted"]
