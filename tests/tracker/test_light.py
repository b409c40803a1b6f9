"""The tracker without PyTorch: what `pip install emotrack` (no extras) runs. Each test runs
`emotrack` in a fresh interpreter in which torch, onnx, matplotlib and the other `train`
extra's packages cannot be imported, so an import of one on the tracker's path fails here."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCKED = ("torch", "torchaudio", "torchvision", "onnx", "matplotlib", "librosa", "transformers")
RUN = (
    "import sys\n"
    f"for name in {BLOCKED!r}:\n"
    "    sys.modules[name] = None  # `import name` raises ImportError\n"
    "from emotrack.main import main\n"
    "code = main(sys.argv[1:])\n"
    f"assert not [n for n in {BLOCKED!r} if sys.modules.get(n) is not None]\n"
    "sys.exit(code)\n"
)


def emotrack_without_torch(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUN, *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_an_onnx_model_tracks_a_file_without_torch(cnn_run, song):
    done = emotrack_without_torch(
        "file", song, "--no-tui", "--fast", "--format", "csv", "--model", cnn_run / "model.onnx"
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 + 15  # header + one row per window
    assert "onnxruntime CPU" in done.stderr


def test_a_run_folder_falls_back_to_its_onnx_export_without_torch(cnn_run, song):
    done = emotrack_without_torch("file", song, "--no-tui", "--fast", "--model", cnn_run)
    assert done.returncode == 0, done.stderr
    assert f"{cnn_run / 'model.onnx'}" in done.stderr


@pytest.mark.parametrize(
    ("model", "extra"),
    [("best.pt", []), (".", ["--backend", "torch"])],
    ids=["checkpoint", "backend-torch"],
)
def test_asking_for_pytorch_without_it_says_which_extra_to_install(cnn_run, song, model, extra):
    done = emotrack_without_torch("file", song, "--no-tui", "--model", cnn_run / model, *extra)
    assert done.returncode == 2 and done.stdout == ""
    assert "needs PyTorch" in done.stderr and "pip install 'emotrack[train]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_bench_light_measures_the_plain_install(cnn_run, tmp_path):
    import json

    from emotrack.main import main

    out = tmp_path / "light.json"
    argv = ["bench", "--light", "--model", str(cnn_run / "model.onnx"), "--file-seconds", "6"]
    assert main([*argv, "--json", str(out)]) == 0
    rows = {r["what"]: r["numbers"] for r in json.loads(out.read_text())["results"]}
    assert 50 < rows["light install on disk"]["mb"] < 1000
    fast, paced = rows["light tracker, file mode"], rows["light tracker, real time"]
    assert 0 < fast["first_value_s"] < paced["first_value_s"]
    assert paced["first_value_s"] > 5.0  # paced: the first window needs 5 s of audio
    assert 20 < fast["rss_peak_mb"] < 2000 and fast["realtime_factor"] > 1
