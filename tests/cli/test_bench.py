"""`emotrack bench`: every measurement runs and the JSON holds the numbers."""

import json

from emotrack.main import main


def test_bench_measures_front_end_inference_latency_and_file_mode(tmp_path, capsys):
    report = tmp_path / "bench.json"
    args = ["bench", "--backbones", "cnn", "--file-seconds", "12", "--live-seconds", "6", "--train"]
    assert main([*args, "--json", str(report)]) == 0
    table = capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["machine"]["cores"] >= 1
    measured = {(r["what"], r["runtime"].split()[0]) for r in data["results"]}
    for what in ("inference", "hop latency (real time)", "file mode"):
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
