"""`emotrack scan --ray` on a real local Ray (2 CPUs): the same rows as the plain scan, into
the database or as Parquet shards."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from emotrack.library.store import Store
from emotrack.main import main

# not imported here: `emotrack scan --ray` configures Ray before importing it
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="the ray extra is not installed"
)


def _rows(db) -> dict[str, dict]:
    with Store.open(db, write=False) as store:
        paths = [row[0] for row in store._db.execute("SELECT path FROM songs")]
        return {path: store.row(path) for path in paths}


def _same(ray_row: dict, plain: dict) -> None:
    for key in ("status", "error", "size", "mtime_ns", "content_hash", "model_id", "mood"):
        assert ray_row[key] == plain[key], key
    if plain["status"] == "ok":
        np.testing.assert_allclose(ray_row["timeline"], plain["timeline"], atol=1e-5)
        assert ray_row["duration"] == plain["duration"]
        assert ray_row["summary"]["windows"] == plain["summary"]["windows"]
        assert ray_row["valence_mean"] == pytest.approx(plain["valence_mean"], abs=1e-5)


def test_ray_scan_gives_the_plain_scans_rows(tmp_path, library, onnx_model, capsys):
    (library / "bad.mp3").write_bytes(b"\xff\xfb not an mp3 " * 100)
    common = [str(library), "--model", str(onnx_model), "--workers", "1"]
    plain_db, ray_db, shards = tmp_path / "plain.db", tmp_path / "ray.db", tmp_path / "shards"
    assert main(["scan", *common, "--db", str(plain_db)]) == 1
    capsys.readouterr()
    assert main(["scan", *common, "--db", str(ray_db), "--ray"]) == 1  # a local Ray, 2 CPUs
    err = capsys.readouterr().err
    assert "4 ok, 1 failed" in err
    plain, by_ray = _rows(plain_db), _rows(ray_db)
    assert sorted(by_ray) == sorted(plain)
    for path in plain:
        _same(by_ray[path], plain[path])
    assert main(["scan", *common, "--db", str(ray_db), "--ray"]) == 0  # resumes like the plain
    assert "0 to track, 5 already done" in capsys.readouterr().err

    assert main(["scan", *common, "--ray", "--actors", "2", "--parquet", str(shards)]) == 1
    assert f"Parquet shards in {shards}" in capsys.readouterr().err
    import pyarrow.parquet as pq

    table = pq.read_table(shards).to_pylist()
    assert sorted(r["path"] for r in table) == sorted(plain)
    for result in table:
        row = plain[result["path"]]
        assert result["kind"] == row["status"] and result["model_id"] == row["model_id"]
        if row["status"] == "ok":
            values = np.frombuffer(result["timeline"], "<f4").reshape(-1, 2)
            np.testing.assert_allclose(values, row["timeline"], atol=1e-5)


def test_parquet_without_ray_is_bad_usage(tmp_path, library, capsys):
    assert main(["scan", str(library), "--parquet", str(tmp_path / "x")]) == 2
    assert "--parquet needs --ray" in capsys.readouterr().err
    assert main(["scan", str(library), "--actors", "2"]) == 2
    assert "--actors needs --ray" in capsys.readouterr().err
