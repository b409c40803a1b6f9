"""The light install as users get it: the wheel built from this tree, installed into a fresh
virtual environment WITHOUT extras (no torch), tracks a generated song with an exported ONNX
model, also one loaded from the package's own data (``models/shipped/``, where the shipped
model lives). Installs with the locked versions, from uv's cache where it has them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "cli", "library", "models", "offline", "tracker")
LIGHT_LIMIT_MB = 300  # the goal for the plain install on disk
SHIPPED_FIXTURE = "test-fixture.onnx"


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` names itself in $UV
    if uv is None:
        pytest.skip("uv is not installed (the README's commands install it through pipx)")
    return uv


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(list(map(str, args)), capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args[:3]}: {done.stderr[-3000:]}"
    return done


def _size_mb(folder: Path) -> float:
    total = sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() or p.is_symlink())
    return total / 2**20


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory, cnn_run) -> Path:
    """A fresh venv holding only the wheel and its plain dependencies."""
    uv, tmp = _uv(), tmp_path_factory.mktemp("light")
    tree = tmp / "src"
    tree.mkdir()
    for name in SOURCES:
        source = ROOT / name
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=ignore)
        else:
            shutil.copy(source, tree / name)
    (tree / "models" / "shipped").mkdir(exist_ok=True)
    shutil.copy(cnn_run / "model.onnx", tree / "models" / "shipped" / SHIPPED_FIXTURE)
    _run(uv, "build", "--wheel", "--out-dir", tmp / "dist", tree, timeout=300)
    wheel = next((tmp / "dist").glob("emotrack-*.whl"))
    locked = _run(
        uv, "export", "--frozen", "--no-hashes", "--no-emit-project", "--no-dev", cwd=ROOT
    ).stdout
    (tmp / "locked.txt").write_text(locked)
    venv = tmp / "venv"
    _run(uv, "venv", "--python", sys.executable, venv, timeout=120)
    python = venv / "bin" / "python"
    _run(uv, "pip", "install", "--python", python, wheel, "-c", tmp / "locked.txt", timeout=600)
    return venv


def test_the_plain_install_has_no_torch_and_fits_its_size(light_venv):
    python = light_venv / "bin" / "python"
    check = "import importlib.util as u; print([m for m in ('torch', 'onnx') if u.find_spec(m)])"
    assert _run(python, "-c", check).stdout.strip() == "[]"
    size = _size_mb(light_venv)
    print(f"light install: {size:.0f} MB on disk")
    assert size <= LIGHT_LIMIT_MB


def test_the_plain_install_tracks_a_song_with_an_onnx_model(light_venv, cnn_run, song, tmp_path):
    out = tmp_path / "out.json"
    done = _run(
        light_venv / "bin" / "emotrack", "file", song, "--no-tui", "--fast",
        "--model", cnn_run / "model.onnx", "--json", out, timeout=120,
    )  # fmt: skip
    entry = json.loads(out.read_text())["files"][0]
    assert entry["status"] == "ok" and len(entry["timeline"]) == 15
    assert len(done.stdout.splitlines()) == 15 and "onnxruntime CPU" in done.stderr


def test_the_plain_install_loads_an_onnx_model_from_its_package_data(light_venv, song):
    code = (
        "import sys, importlib.resources as r, numpy as np\n"
        "from emotrack.tracker.engine import Engine\n"
        f"path = r.files('emotrack.models') / 'shipped' / {SHIPPED_FIXTURE!r}\n"
        "engine = Engine.load(path, device='cpu')\n"
        "values = engine.predict(np.zeros((2, engine.window_samples), np.float32))\n"
        "print(values.shape, engine.backend, 'torch' in sys.modules)\n"
    )
    assert _run(light_venv / "bin" / "python", "-c", code).stdout.split("\n")[0] == (
        "(2, 2) onnxruntime CPU False"
    )
