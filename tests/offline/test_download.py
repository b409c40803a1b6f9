"""Getting DEAM through kagglehub: a real kagglehub call on a local cache, and offline."""

from __future__ import annotations

import time

import pytest

from emotrack.main import main
from emotrack.models.errors import UserError
from emotrack.offline.deam import load_deam
from emotrack.offline.download import DEAM_HANDLE, cached_versions, download_deam

DEAD_PROXY = "http://127.0.0.1:9"  # nothing listens: any network use fails at once


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty kagglehub cache (KAGGLEHUB_CACHE) on a machine without network."""
    cache = tmp_path / "kagglehub"
    cache.mkdir()
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(cache))
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, DEAD_PROXY)
    for name in ("NO_PROXY", "no_proxy", "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(name, raising=False)
    return cache


def cached_copy(cache, version, complete=True):
    """Where kagglehub keeps a dataset version, and its completion marker."""
    base = cache / "datasets" / DEAM_HANDLE
    folder = base / "versions" / str(version)
    folder.mkdir(parents=True)
    if complete:
        (base / f"{version}.complete").touch()
    return folder


def test_download_returns_the_cached_copy_without_network(
    offline_cache, write_deam, agreeing_songs
):
    cached_copy(offline_cache, 1)
    newest = cached_copy(offline_cache, 2)
    cached_copy(offline_cache, 3, complete=False)  # an interrupted download: not used
    write_deam(newest, agreeing_songs(range(2, 5), audio=45.0))
    assert cached_versions() == [1, 2]
    path = download_deam()
    assert path == newest
    deam = load_deam(path)
    assert sorted(deam.songs) == [2, 3, 4] and deam.problems == []


def test_audit_with_download_uses_the_cache(offline_cache, write_deam, agreeing_songs, capsys):
    write_deam(cached_copy(offline_cache, 4), agreeing_songs(range(2, 5), audio=45.0))
    assert main(["audit", "--download"]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_download_offline_without_a_cache_names_data_dir(offline_cache):
    start = time.monotonic()
    with pytest.raises(UserError) as error:
        download_deam()
    message = str(error.value)
    assert "--data-dir" in message and "no network" in message and "credentials" in message
    assert time.monotonic() - start < 30
    assert not any(offline_cache.rglob("*.complete"))


def test_audit_with_download_offline_is_bad_input(offline_cache, capsys):
    assert main(["audit", "--download"]) == 2
    assert "--data-dir" in capsys.readouterr().err
