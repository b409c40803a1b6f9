"""emotrack-train end to end on a tiny generated DEAM: the run folder, resume (also after
SIGKILL), a NaN stop, DDP on two CPU processes, bad input, and one run on DEAM and 4Q at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from emotrack.main import main as emotrack
from emotrack.models.emotion import DEAM_SCALE, load_model, read_checkpoint
from emotrack.offline import trainer as trainer_module
from emotrack.offline.synthetic import generate_deam
from emotrack.offline.train_cli import main

SONGS, CLIP_SECONDS = 24, 20.0
RUN_FILES = {
    "config.json",
    "audio.json",
    "labels.json",
    "split.json",
    "history.json",
    "best.pt",
    "last.pt",
    "metrics.json",
    "report.md",
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """A generated DEAM of 24 short songs and a feature cache shared by the module's runs."""
    root = tmp_path_factory.mktemp("deam")
    generate_deam(root, n_songs=SONGS, clip_seconds=CLIP_SECONDS, progress=False, workers=1)
    return {"root": root, "cache": tmp_path_factory.mktemp("cache")}


def _args(data: dict, out: Path, *extra: str, epochs: int = 2) -> list[str]:
    return [
        "--data-dir", str(data["root"]),
        "--cache-dir", str(data["cache"]),
        "--backbone", "cnn",
        "--device", "cpu",
        "--batch-size", "16",
        "--windows", "3",
        "--workers", "1",
        "--epochs", str(epochs),
        "--out", str(out),
        *extra,
    ]  # fmt: skip


def _history(run: Path) -> list[dict]:
    return json.loads((run / "history.json").read_text())


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("WORLD_SIZE", None)
    return env


def test_trains_and_writes_the_whole_run_folder(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_args(data, run, "--labels", "both", "--scheduler", "cosine")) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(run)  # stdout: the run folder, nothing else
    assert "epoch 2/2" in err and "test, best epoch" in err
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    assert {p.name for p in (run / "plots").iterdir()} >= {"history.png", "predictions.png"}
    assert not list(run.glob(".*.tmp"))

    history = _history(run)
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(isinstance(h["train_loss"], float) and "val_r2_valence" in h for h in history)
    config = json.loads((run / "config.json").read_text())
    assert config["labels"] == "both" and config["backbone"] == "cnn" and config["lr"] == 1e-3
    split = json.loads((run / "split.json").read_text())
    assert len(split["train"]) + len(split["val"]) + len(split["test"]) == SONGS
    assert not set(split["train"]) & set(split["test"])
    labels = json.loads((run / "labels.json").read_text())
    assert all(s > 0 for s in labels["std"]) and labels["output_scale"] == DEAM_SCALE
    assert all(key.startswith("deam-") for key in split["train"])

    last = read_checkpoint(run / "last.pt")
    assert last["epoch"] == 2 and len(last["history"]) == 2
    assert {"optimizer", "scheduler", "scaler", "rng", "best_score", "bad_epochs"} <= set(last)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n_clips"] == len(split["test"])
    assert metrics["output_scale"] == DEAM_SCALE and metrics["datasets"] == ["deam"]
    assert {"model", "mean", "ridge"} <= set(metrics["methods"])
    assert metrics["methods"]["model"]["frame"] is not None  # dynamic labels were trained on

    model = load_model(run)  # what the tracker loads: best.pt, outputs on 1..9
    audio = model.audio
    x = torch.randn(3, *audio.input_shape)
    with torch.no_grad():
        out = model.to_values(model(x))
    assert out.shape == (3, 2) and torch.isfinite(out).all()


def test_emotrack_train_is_the_same_command_resume_included(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert emotrack(["train", *_args(data, run, epochs=1)]) == 0
    assert capsys.readouterr().out.strip() == str(run)
    assert emotrack(["train", "--resume", str(run), "--lr", "0.5"]) == 2  # only --epochs may change
    assert emotrack(["train", "--resume", str(run), "--epochs", "2"]) == 0
    assert [h["epoch"] for h in _history(run)] == [1, 2]


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(data, tmp_path, capsys):
    run, straight = tmp_path / "killed", tmp_path / "straight"
    # small batches and many epochs: still training when it gets killed
    options = ("--batch-size", "4")
    command = [sys.executable, "-m", "emotrack.offline.train_cli"]
    command += _args(data, run, *options, epochs=50)
    process = subprocess.Popen(
        command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "last.pt").exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "no epoch finished in time"
            time.sleep(0.05)
        time.sleep(0.3)  # into the next epoch
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    saved = read_checkpoint(run / "last.pt")
    done = saved["epoch"]
    assert 1 <= done < 50 and len(_history(run)) == done

    assert main(["--resume", str(run), "--lr", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--lr 0.5" in err and "Only --epochs may change" in err and "Traceback" not in err

    assert main(["--resume", str(run), "--epochs", str(done + 1)]) == 0
    assert f"resuming {run} after epoch {done}" in capsys.readouterr().err
    history = _history(run)
    assert [h["epoch"] for h in history] == list(range(1, done + 2))
    assert history[:done] == json.loads(json.dumps(saved["history"]))
    assert (run / "metrics.json").is_file() and not list(run.glob(".*.tmp"))

    # the numbers of an uninterrupted run (model, optimiser, schedule and RNG restored), up to
    # float rounding that differs between processes
    assert main(_args(data, straight, *options, epochs=done + 1)) == 0
    for resumed, uninterrupted in zip(history, _history(straight), strict=True):
        for key in ("train_loss", "val_loss", "val_r2_valence", "val_r2_arousal"):
            assert resumed[key] == pytest.approx(uninterrupted[key], rel=1e-3, abs=1e-3)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoints(data, tmp_path, capsys, monkeypatch):
    run = tmp_path / "nan"
    assert main(_args(data, run, epochs=1)) == 0
    kept = {name: (run / name).read_bytes() for name in ("best.pt", "last.pt", "metrics.json")}
    capsys.readouterr()

    def exploding(config):
        def loss(pred, target, weight=None):
            return pred.sum() * float("nan")

        return loss

    monkeypatch.setattr(trainer_module, "make_loss", exploding)
    assert main(["--resume", str(run), "--epochs", "3"]) == 1
    err = capsys.readouterr().err
    assert "epoch 2, batch 1: the loss is not finite" in err
    assert "hold the last good epoch (1)" in err and "Traceback" not in err
    assert all((run / name).read_bytes() == data for name, data in kept.items())
    assert len(_history(run)) == 1


def test_nan_midway_through_an_epoch_names_the_first_bad_batch(data, tmp_path, capsys, monkeypatch):
    calls = []

    def exploding_from_batch_3(config):
        def loss(pred, target, weight=None):
            calls.append(1)
            return pred.sum() * (float("nan") if len(calls) >= 3 else 0.0)

        return loss

    monkeypatch.setattr(trainer_module, "make_loss", exploding_from_batch_3)
    assert main(_args(data, tmp_path / "run", "--batch-size", "4", epochs=1)) == 1
    assert "epoch 1, batch 3: the loss is not finite" in capsys.readouterr().err


def test_compiled_training_writes_checkpoints_the_tracker_loads(data, tmp_path, capsys):
    run = tmp_path / "compiled"
    assert main(_args(data, run, "--compile", epochs=1)) == 0
    assert "torch.compile" in capsys.readouterr().err
    model = load_model(run)  # plain parameter names: no torch.compile wrapper in the checkpoint
    out = model.eval()(torch.zeros(3, *model.audio.input_shape))
    assert out.shape == (3, 2) and torch.isfinite(out).all()
    assert main(["--resume", str(run), "--epochs", "2"]) == 0  # resumes, still compiled
    assert len(_history(run)) == 2


def test_ddp_on_two_cpu_processes_trains_and_only_rank_0_writes(data, tmp_path):
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += ["--standalone", "-m", "emotrack.offline.train_cli"]
    command += _args(data, run, "--batch-size", "8")
    result = subprocess.run(
        command, env=_env(), capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [str(run)]  # printed by rank 0 alone
    assert "on 2 process(es)" in result.stderr
    assert result.stderr.count("epoch 1/2 ") == 1 and result.stderr.count("epoch 2/2 ") == 1
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    assert not list(run.glob(".*.tmp"))
    last = read_checkpoint(run / "last.pt")
    assert last["epoch"] == 2 and len(last["rng"]) == 2  # both ranks' random streams kept


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backbone", "resnet"], "invalid choice: 'resnet'"),
        (["--weights", "nowhere.pt"], "nowhere.pt: no such weights file"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--resume", "no-such-run"], "not a run folder"),
        (["--dataset", "mirex"], "invalid choice: 'mirex'"),
        (["--label-smoothing", "1.5"], "--label-smoothing '1.5'"),
        (["--mixup", "-1"], "--mixup must be >= 0"),
        (["--epoch-windows", "0"], "--epoch-windows must be at least 1"),
        (["--dataset", "deam", "4q", "--data-dir", "a", "b", "c"], "3 --data-dir folders for 2"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(data, tmp_path, capsys, argv, message):
    code = main(_args(data, tmp_path / "bad") + argv)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_weights_that_do_not_fit_are_refused(data, tmp_path, capsys):
    weights = tmp_path / "other.pt"
    torch.save({"features.0.weight": torch.zeros(3, 3)}, weights)
    assert main(_args(data, tmp_path / "run", "--weights", str(weights))) == 2
    assert "weights do not fit backbone 'cnn'" in capsys.readouterr().err


def test_too_few_songs_for_a_split_exit_2(write_deam, tmp_path, capsys):
    root = write_deam(
        tmp_path / "deam", {i: {"static": (5.0, 1.0, 5.0, 1.0), "audio": 6.0} for i in (2, 3, 4)}
    )
    argv = ["--data-dir", str(root), "--backbone", "cnn", "--out", str(tmp_path / "run")]
    assert main(argv + ["--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert "split is empty: 3 usable clips gave 2/1/0 train/val/test" in err
    assert "use more clips" in err
    assert "Traceback" not in err


def test_download_fetches_deam_only(tmp_path, capsys):
    argv = ["--dataset", "4q", "--download", "--backbone", "cnn", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--download fetches DEAM only" in err and "mir.dei.uc.pt" in err


def test_one_run_on_deam_and_4q_together(tmp_path, capsys):
    """`--dataset deam 4q --synthetic`: one model, each window trained by the losses its labels
    allow, judged on DEAM's continuous labels and on 4Q's quadrants beside all baselines."""
    run = tmp_path / "mixed"
    argv = ["--dataset", "deam", "4q", "--synthetic", "20", "--synthetic-seconds", "16"]
    argv += ["--backbone", "cnn", "--device", "cpu", "--batch-size", "8", "--windows", "2"]
    argv += ["--workers", "1", "--epochs", "2", "--out", str(run)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "dynamic, sign targets" in err and "best epoch by val loss" in err
    split = json.loads((run / "split.json").read_text())
    keys = split["train"] + split["val"] + split["test"]
    assert sum(k.startswith("deam-") for k in keys) == 20
    assert sum(k.startswith("4q-") for k in keys) == 20
    manifest = json.loads((run / "data" / "4q" / "synthetic.json").read_text())
    artist = {f"4q-{c['song']}": c["artist"] for c in manifest["clips"]}
    sides = [{artist[k] for k in split[p] if k in artist} for p in ("train", "val", "test")]
    assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
    history = _history(run)
    assert all({"val_loss", "val_macro_f1", "val_r2_valence"} <= set(h) for h in history)
    assert all(isinstance(h["train_loss"], float) for h in history)

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["datasets"] == ["deam", "4q"] and metrics["output_scale"] == DEAM_SCALE
    methods = metrics["methods"]
    assert {"model", "mean", "ridge"} <= set(methods)
    test_fourq = sum(k.startswith("4q-") for k in split["test"])
    test_deam = len(split["test"]) - test_fourq
    assert test_deam >= 1 and methods["model"]["song"]["valence"]["n"] == test_deam
    report = (run / "report.md").read_text()
    assert "## Song level" in report and "## Quadrants" in report
    model = load_model(run)
    with torch.no_grad():
        values = model.to_values(model(torch.randn(2, *model.audio.input_shape)))
    assert values.shape == (2, 2) and torch.isfinite(values).all()
    # the 70/15/15 split gives the test part 4Q clips too (20 per dataset are enough for that)
    assert test_fourq >= 1, f"no 4Q clip among the test clips {split['test']}"
    assert methods["model"]["quadrants"]["n"] == test_fourq  # by 4Q's own labels
    assert {"majority", "logistic"} <= set(methods)
