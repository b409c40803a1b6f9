"""`emotrack bench`: every measurement runs and the JSON holds the numbers."""

import json
import sys

import pytest

from emotrack.main import main


def test_bench_measures_front_end_inference_latency_and_file_mode(tmp_path, capsys):
    report = tmp_path / "bench.json"
    args = ["bench", "--backbones", "cnn", "--file-seconds", "12", "--live-seconds", "6", "--train"]
    assert main([*args, "--json", str(report)]) == 0
    table = capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["machine"]["cores"] >= 1
    measured = {(r["what"], r["runtime"].split()[0]) for r in data["results"]}
    for what in ("inference", "step latency (real time)", "file mode"):
        assert (what, "torch") in measured and (what, "onnxruntime") in measured
        assert what in table
    (training,) = [r for r in data["results"] if r["what"] == "training"]
    assert training["numbers"]["windows_per_s"] > 0
    file_mode = [r for r in data["results"] if r["what"] == "file mode"]
    assert all(r["numbers"]["realtime_factor"] > 1 for r in file_mode)
    assert all(r["numbers"]["rss_peak_mb"] > 0 for r in file_mode)
    assert all(0 <= r["numbers"]["cpu_steal_pct"] <= 100 for r in file_mode)  # Linux


def test_bench_refuses_an_unknown_backbone(capsys):
    assert main(["bench", "--backbones", "resnet"]) == 2
    assert "resnet" in capsys.readouterr().err


def test_bench_scan_times_the_scan_file_mode_ray_and_another_command(tmp_path, capsys):
    report = tmp_path / "scan.json"
    other = f'{sys.executable} -c "import sys, os; sys.exit(len(os.listdir(sys.argv[1])) != 3)"'
    args = ["bench", "--scan", "--backbones", "cnn", "--runtimes", "onnx", "--scan-songs", "3"]
    args += ["--scan-seconds", "8", "--scan-file-mode", "--compare", other + " {dir}"]
    args += ["--ray-actors", "2"]
    assert main([*args, "--json", str(report)]) == 0
    rows = {r["what"]: r for r in json.loads(report.read_text())["results"]}
    assert set(rows) == {"scan", "file --fast", "scan --ray x2", "compare"}
    for row in rows.values():
        numbers = row["numbers"]
        assert numbers["songs"] == 3 and numbers["audio_s"] == pytest.approx(24, abs=0.5)
        assert numbers["wall_s"] > 0 and numbers["songs_per_hour"] > 0
    scan = rows["scan"]["numbers"]
    assert 50 < scan["rss_peak_mb"] < 4000 and scan["rss_growth_mb"] >= 0  # the scan's memory
    assert scan["scan_realtime_factor"] >= scan["realtime_factor"] > 0  # start not included
    assert 0 < scan["scan_s"] + scan["model_load_s"] < scan["wall_s"]
    assert "scan" in capsys.readouterr().out
